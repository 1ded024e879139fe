"""The clients, projects and tasks read models: each event as row changes, no database."""

from __future__ import annotations

from decimal import Decimal

from tests.unit.domain.stamps import T0, stamp
from tests.unit.projections.events import events_of, project
from timetracker.domain.client import Client
from timetracker.domain.project import Project
from timetracker.domain.task import Task
from timetracker.domain.values import aggregate_id
from timetracker.projections import clients, projects, tasks
from timetracker.projections.bodies import refresh_row
from timetracker.projections.clients import ClientsProjection
from timetracker.projections.projects import ProjectsProjection
from timetracker.projections.rows import Delete, Insert, Refresh, Update
from timetracker.projections.tasks import TasksProjection
from timetracker.projections.time_entries import TimeEntriesProjection

CLIENT = aggregate_id("client", 2)
PROJECT = aggregate_id("project", 5)
TASK = aggregate_id("task", 3)


def test_a_created_client_is_one_row_with_every_field() -> None:
    client = Client.create(2, {"name": "Acme", "email": "a@acme.example"}, stamp())

    [change, refresh] = ClientsProjection().changes(events_of(client)[0])

    assert refresh == refresh_row("clients", clients.BODY, CLIENT)
    assert change == Insert(
        "clients",
        {
            "id": 2,
            "aggregate_id": CLIENT,
            "name": "Acme",
            "email": "a@acme.example",
            "company": None,
            "phone": None,
            "contact_person": None,
            "address": None,
            "default_hourly_rate": None,
            "status": "active",
            "created_at": T0,
            "updated_at": T0,
            "version": 1,
        },
    )


def test_an_updated_client_changes_only_its_changed_columns_then_archiving_sets_the_status() -> (
    None
):
    client = Client.create(2, {"name": "Acme"}, stamp())
    client.collect_events()
    client.update({"name": "Acme Corp", "default_hourly_rate": Decimal("80")}, stamp(5))
    client.archive(stamp(9))
    updated, archived = events_of(client)
    projection = ClientsProjection()

    assert projection.changes(updated) == [
        Update(
            "clients",
            CLIENT,
            {
                "name": "Acme Corp",
                "default_hourly_rate": Decimal("80"),
                "updated_at": stamp(5).at,
                "version": 2,
            },
        ),
        refresh_row("clients", clients.BODY, CLIENT),
    ]
    assert projection.changes(archived) == [
        Update("clients", CLIENT, {"status": "archived", "updated_at": stamp(9).at, "version": 3}),
        refresh_row("clients", clients.BODY, CLIENT),
    ]


def test_a_projects_status_change_clears_its_archived_at_and_archiving_sets_it() -> None:
    made = Project.create(5, {"name": "Website", "billable": False}, stamp())
    [created] = events_of(made)
    made.archive(stamp(1))
    made.update({"status": "active"}, stamp(2))
    archived, reopened = events_of(made)
    projection = ProjectsProjection()

    [insert, refresh] = projection.changes(created)
    assert refresh == refresh_row("projects", projects.BODY, PROJECT)
    assert isinstance(insert, Insert) and insert.table == "projects"
    assert insert.row["id"] == 5 and insert.row["billable"] is False
    assert insert.row["status"] == "active" and "archived_at" not in insert.row
    assert projection.changes(archived) == [
        Update(
            "projects",
            PROJECT,
            {
                "status": "archived",
                "archived_at": stamp(1).at,
                "updated_at": stamp(1).at,
                "version": 2,
            },
        ),
        refresh_row("projects", projects.BODY, PROJECT),
    ]
    [reopen, _] = projection.changes(reopened)
    assert isinstance(reopen, Update)
    assert reopen.values["status"] == "active" and reopen.values["archived_at"] is None


def test_a_tasks_priority_is_ranked_for_the_list_order_and_a_deleted_task_goes() -> None:
    task = Task.create(3, project(), {"name": "Triage", "priority": "urgent"}, stamp())
    [created] = events_of(task)
    task.update({"priority": "low", "description": "inbox"}, stamp(1))
    task.delete(stamp(2))
    updated, deleted = events_of(task)
    projection = TasksProjection()

    [insert, refresh] = projection.changes(created)
    assert refresh == refresh_row("tasks", tasks.BODY, TASK)
    assert isinstance(insert, Insert)
    assert insert.row["project_id"] == 5
    assert (insert.row["priority"], insert.row["priority_rank"]) == ("urgent", 3)
    assert projection.changes(updated) == [
        Update(
            "tasks",
            TASK,
            {
                "description": "inbox",
                "priority": "low",
                "priority_rank": 0,
                "updated_at": stamp(1).at,
                "version": 2,
            },
        ),
        refresh_row("tasks", tasks.BODY, TASK),
    ]
    assert projection.changes(deleted) == [Delete("tasks", TASK)]


def test_a_read_model_ignores_the_events_of_other_aggregates() -> None:
    [created] = events_of(Client.create(2, {"name": "Acme"}, stamp()))

    assert TasksProjection().changes(created) == []
    assert TimeEntriesProjection().changes(created) == []


def test_the_projects_keep_their_clients_names_and_a_renamed_client_refreshes_its_projects() -> (
    None
):
    client = Client.create(2, {"name": "Acme"}, stamp())
    [created] = events_of(client)
    client.update({"name": "Acme Corp"}, stamp(1))
    client.update({"email": "a@acme.example"}, stamp(2))
    renamed, other_change = events_of(client)
    projection = ProjectsProjection()

    assert projection.changes(created) == [
        Insert("project_clients", {"id": 2, "aggregate_id": CLIENT, "name": "Acme"})
    ]
    assert projection.changes(renamed) == [
        Update("project_clients", CLIENT, {"name": "Acme Corp"}),
        Refresh("projects", projects.BODY, projects.OF_CLIENT, CLIENT),
    ]
    assert projection.changes(other_change) == []
