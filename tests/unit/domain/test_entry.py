"""The Entry aggregate: recording time and editing it, the rules checked before any event."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from tests.unit.domain.replay import replay, state
from tests.unit.domain.stamps import T0, assert_stamped, stamp
from timetracker.domain.entry import Entry
from timetracker.domain.errors import (
    EntryDeletedError,
    InvalidValueError,
    NotYourEntryError,
    ProjectIsArchivedError,
)
from timetracker.domain.project import Project
from timetracker.domain.rules import MAX_TEXT_LENGTH
from timetracker.domain.task import Task

START = T0 - timedelta(hours=3)
END = START + timedelta(hours=1)


def a_project(number: int = 5, archived: bool = False) -> Project:
    project = Project.create(number, {"name": f"Project {number}"}, stamp())
    if archived:
        project.archive(stamp())
    project.collect_events()
    return project


def a_task(project: Project, number: int = 3) -> Task:
    task = Task.create(number, project, {"name": "Triage"}, stamp())
    task.collect_events()
    return task


def record(project: Project | None = None, task: Task | None = None, **values: object) -> Entry:
    fields = {"start_time": START, "end_time": END, **values}
    return Entry.create(1, 7, project or a_project(), task, fields, "api", stamp())


def recorded(**values: object) -> Entry:
    entry = record(**values)
    entry.collect_events()
    return entry


def test_recording_an_entry_records_its_fields_tags_normalised() -> None:
    project = a_project()
    entry = record(project, a_task(project), notes="inbox", tags=" support, email ,")

    [created] = entry.pending_events
    assert isinstance(created, Entry.Created)
    assert created.fields == {
        "project_id": 5,
        "task_id": 3,
        "start_time": START,
        "end_time": END,
        "notes": "inbox",
        "tags": "support,email",
        "billable": True,
    }
    assert entry.duration_seconds == 3600 and not entry.is_running
    assert_stamped(entry.pending_events, stamp())


def test_an_entry_without_an_end_is_running() -> None:
    entry = record(end_time=None)
    assert entry.is_running and entry.duration_seconds is None


def test_an_entry_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        record(end_time=START)
    assert caught.value.field == "end_time"


def test_a_running_entry_cannot_start_in_the_future() -> None:
    with pytest.raises(InvalidValueError):
        record(start_time=T0 + timedelta(minutes=1), end_time=None)


def test_times_without_a_time_zone_are_refused() -> None:
    with pytest.raises(InvalidValueError):
        record(start_time=datetime(2024, 1, 15, 6, 0), end_time=None)


def test_time_on_an_archived_project_is_refused() -> None:
    with pytest.raises(ProjectIsArchivedError):
        record(a_project(archived=True))


def test_a_task_of_another_project_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        record(a_project(5), a_task(a_project(6)))
    assert caught.value.field == "task_id"


def test_notes_longer_than_the_limit_are_refused() -> None:
    with pytest.raises(InvalidValueError):
        record(notes="x" * (MAX_TEXT_LENGTH + 1))


def test_a_normal_user_cannot_record_time_for_someone_else_but_an_admin_can() -> None:
    fields = {"start_time": START, "end_time": END}
    with pytest.raises(NotYourEntryError):
        Entry.create(1, 8, a_project(), None, fields, "api", stamp())
    admin = dataclasses.replace(stamp(), is_admin=True)
    assert Entry.create(1, 8, a_project(), None, fields, "api", admin).user_id == 8


def test_an_edit_records_only_what_changed_and_recomputes_the_duration() -> None:
    entry = recorded(notes="inbox")

    changes = entry.edit({"end_time": END + timedelta(hours=1)}, a_project(), None, stamp(1))

    assert changes == {
        "end_time": {"from": END, "to": END + timedelta(hours=1)},
        "duration_seconds": {"from": 3600, "to": 7200},
    }
    [edited] = entry.pending_events
    assert isinstance(edited, Entry.Edited) and edited.changes == changes


def test_an_edit_that_changes_nothing_records_nothing() -> None:
    entry = recorded(notes="inbox")
    assert entry.edit({"notes": "inbox"}, a_project(), None, stamp(1)) == {}
    assert entry.pending_events == []


def test_an_entrys_end_cannot_be_removed() -> None:
    with pytest.raises(InvalidValueError):
        recorded().edit({"end_time": None}, a_project(), None, stamp(1))


def test_moving_an_entry_to_an_archived_project_is_refused() -> None:
    with pytest.raises(ProjectIsArchivedError):
        recorded().edit({}, a_project(6, archived=True), None, stamp(1))


def test_a_deleted_entry_is_neither_edited_nor_deleted_again() -> None:
    entry = recorded()
    entry.delete(stamp(1))
    with pytest.raises(EntryDeletedError):
        entry.edit({"notes": "x"}, a_project(), None, stamp(2))
    with pytest.raises(EntryDeletedError):
        entry.delete(stamp(2))


def test_stopping_a_running_entry_ends_it_at_the_stop() -> None:
    entry = record(end_time=None)
    entry.collect_events()

    entry.stop(stamp(30))

    assert entry.end_time == stamp(30).at and not entry.is_running
    assert entry.duration_seconds == int((stamp(30).at - START).total_seconds())


def test_replaying_the_events_rebuilds_an_equal_entry() -> None:
    entry = record(notes="inbox")
    entry.edit({"notes": "done", "billable": False}, a_project(), None, stamp(1))
    entry.delete(stamp(2))
    events = entry.collect_events()
    assert state(replay(events)) == state(entry)
