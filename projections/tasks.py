"""The tasks read model: one row per live task, listed by priority then name."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEventProtocol
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from timetracker.domain.task import TASK_FIELDS, TASK_PRIORITIES, Task
from timetracker.projections.base import Projection
from timetracker.projections.bodies import body_statements, json_object, refresh_row, time
from timetracker.projections.kept_pages import KEPT_LIST_BYTES, KeptPages
from timetracker.projections.paging import (
    BodyPage,
    conditions_set,
    fetch_one,
    list_statement,
)
from timetracker.projections.rows import Delete, Insert, RowChange, Update

# low 0 ... urgent 3; lists sort by rank descending, so urgent comes first
_RANK = {priority: rank for rank, priority in enumerate(TASK_PRIORITIES)}

# A task as the API shows it (`http/tasks.py::task_json`).
BODY = json_object(
    {
        "id": "id",
        "project_id": "project_id",
        "name": "name",
        "description": "description",
        "status": "status",
        "priority": "priority",
        "created_at": time("created_at"),
        "updated_at": time("updated_at"),
        "version": "version",
    }
)


class TasksProjection(Projection):
    """Keeps the `tasks` table in step with Task events (a deleted task's row goes)."""

    name = "tasks"
    tables = ("tasks",)

    def create_statements(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS tasks (
                id integer PRIMARY KEY,
                aggregate_id uuid NOT NULL UNIQUE,
                project_id integer NOT NULL,
                name text NOT NULL,
                description text,
                status text NOT NULL,
                priority text NOT NULL,
                priority_rank smallint NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                version integer NOT NULL,
                body json
            )
            """,
            "CREATE INDEX IF NOT EXISTS tasks_order_idx ON tasks (priority_rank, name, id)",
            "CREATE INDEX IF NOT EXISTS tasks_project_idx"
            " ON tasks (project_id, priority_rank, name, id)",
            *body_statements("tasks", BODY),
        ]

    def changes(self, event: DomainEventProtocol[Any]) -> list[RowChange]:
        if isinstance(event, Task.Created):
            fields = event.fields
            row = {
                "id": event.number,
                "aggregate_id": event.originator_id,
                "project_id": event.project_id,
                "name": fields["name"],
                "description": fields["description"],
                "status": fields["status"],
                "priority": fields["priority"],
                "priority_rank": _RANK[fields["priority"]],
                "created_at": event.timestamp,
                "updated_at": event.timestamp,
                "version": event.originator_version,
            }
            return [Insert("tasks", row), refresh_row("tasks", BODY, event.originator_id)]
        if isinstance(event, Task.Updated):
            values: dict[str, Any] = {}
            for name, change in event.changes.items():
                if name in TASK_FIELDS:
                    values[name] = change["to"]
                if name == "priority":
                    values["priority_rank"] = _RANK[change["to"]]
            values |= {"updated_at": event.timestamp, "version": event.originator_version}
            return [
                Update("tasks", event.originator_id, values),
                refresh_row("tasks", BODY, event.originator_id),
            ]
        if isinstance(event, Task.Deleted):
            return [Delete("tasks", event.originator_id)]
        return []


class TasksView:
    """Queries on the tasks read model."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self.pages = KeptPages(TasksProjection.name, KEPT_LIST_BYTES)

    async def get(self, task_id: int) -> dict[str, Any] | None:
        """One task, or None."""
        return await fetch_one(
            self.pool, sql.SQL("SELECT * FROM tasks WHERE id = %(id)s"), {"id": task_id}
        )

    async def list_json(
        self,
        project_id: int | None,
        status: str | None,
        page: int,
        per_page: int,
        shown: int | None = None,
    ) -> BodyPage:
        """Tasks by priority (urgent first), then name, as their bodies."""
        statement = list_statement(
            "SELECT body, priority_rank, name, id FROM tasks",
            "priority_rank DESC, name, id",
            "SELECT count(*) FROM tasks",
            conditions_set(
                ("project_id = %(project_id)s", project_id), ("status = %(status)s", status)
            ),
        )
        params = {"project_id": project_id, "status": status}
        return await self.pages.fetch(self.pool, statement, params, page, per_page, shown)
