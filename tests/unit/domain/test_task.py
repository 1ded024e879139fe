"""The Task aggregate: created in a live project, updated, deleted."""

from __future__ import annotations

import pytest

from tests.unit.domain.replay import replay, state
from tests.unit.domain.stamps import stamp
from timetracker.domain.errors import InvalidValueError, ProjectIsArchivedError, TaskDeletedError
from timetracker.domain.project import Project
from timetracker.domain.task import Task


def a_project(archived: bool = False) -> Project:
    project = Project.create(5, {"name": "Website"}, stamp())
    if archived:
        project.archive(stamp())
    project.collect_events()
    return project


def a_task(**values: object) -> Task:
    task = Task.create(3, a_project(), {"name": "Triage", **values}, stamp())
    task.collect_events()
    return task


def test_a_new_task_is_todo_with_medium_priority_in_its_project() -> None:
    task = Task.create(3, a_project(), {"name": " Triage "}, stamp())

    [created] = task.pending_events
    assert isinstance(created, Task.Created) and created.project_id == 5
    assert (task.name, task.status, task.priority) == ("Triage", "todo", "medium")


def test_a_task_in_an_archived_project_is_refused() -> None:
    with pytest.raises(ProjectIsArchivedError):
        Task.create(3, a_project(archived=True), {"name": "Triage"}, stamp())


@pytest.mark.parametrize(
    "values",
    [{}, {"name": ""}, {"priority": "asap"}, {"status": "someday"}, {"colour": "red"}],
)
def test_a_task_without_a_name_or_with_a_bad_field_is_refused(values: dict[str, str]) -> None:
    with pytest.raises(InvalidValueError):
        Task.create(3, a_project(), {"name": "Triage", **values} if values else {}, stamp())


def test_an_update_records_only_what_changed() -> None:
    task = a_task()

    changes = task.update({"name": "Triage", "priority": "urgent"}, stamp(1))

    assert changes == {"priority": {"from": "medium", "to": "urgent"}}
    [updated] = task.pending_events
    assert isinstance(updated, Task.Updated) and updated.changes == changes


def test_a_deleted_task_is_neither_updated_nor_deleted_again() -> None:
    task = a_task()
    task.delete(stamp(1))
    with pytest.raises(TaskDeletedError):
        task.update({"name": "Other"}, stamp(2))
    with pytest.raises(TaskDeletedError):
        task.delete(stamp(2))


def test_replaying_the_events_rebuilds_an_equal_task() -> None:
    task = Task.create(3, a_project(), {"name": "Triage"}, stamp())
    task.update({"status": "done"}, stamp(1))
    task.delete(stamp(2))
    assert state(replay(task.collect_events())) == state(task)
