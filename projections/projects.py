"""The projects read model: one row per project, listed by status and client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from timetracker.domain.client import Client
from timetracker.domain.project import Project
from timetracker.projections.base import Projection
from timetracker.projections.bodies import body_statements, json_object, number, refresh_row, time
from timetracker.projections.kept_pages import KEPT_LIST_BYTES, KeptPages
from timetracker.projections.paging import (
    BodyPage,
    conditions_set,
    fetch_one,
    list_statement,
)
from timetracker.projections.rows import Insert, Refresh, RowChange, Update

_COLUMNS = (
    "name",
    "description",
    "client_id",
    "hourly_rate",
    "estimated_hours",
    "billable",
    "status",
)


# A project as the API shows it (`http/projects.py::project_json`). The client's name comes
# from this read model's own copy of the client names (`project_clients`), so a rebuild or a
# verify of this read model alone needs no other.
BODY = json_object(
    {
        "id": "id",
        "name": "name",
        "description": "description",
        "client_id": "client_id",
        "client": "(SELECT c.name FROM project_clients c WHERE c.id = projects.client_id)",
        "hourly_rate": number("hourly_rate"),
        "estimated_hours": number("estimated_hours"),
        "billable": "billable",
        "status": "status",
        "created_at": time("created_at"),
        "updated_at": time("updated_at"),
        "archived_at": time("archived_at"),
        "version": "version",
    }
)
# The projects of the client with this aggregate id (a client renamed: their bodies change).
OF_CLIENT = "client_id = (SELECT c.id FROM project_clients c WHERE c.aggregate_id = %s)"


class ProjectsProjection(Projection):
    """Keeps the `projects` table in step with Project events, and the client names the
    projects show (`project_clients`) with Client events."""

    name = "projects"
    tables = ("projects", "project_clients")

    def create_statements(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS projects (
                id integer PRIMARY KEY,
                aggregate_id uuid NOT NULL UNIQUE,
                name text NOT NULL,
                description text,
                client_id integer,
                hourly_rate numeric,
                estimated_hours numeric,
                billable boolean NOT NULL,
                status text NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                archived_at timestamptz,
                version integer NOT NULL,
                body json
            )
            """,
            "CREATE INDEX IF NOT EXISTS projects_status_idx ON projects (status, id)",
            "CREATE INDEX IF NOT EXISTS projects_client_idx ON projects (client_id, id)",
            """
            CREATE TABLE IF NOT EXISTS project_clients (
                id integer PRIMARY KEY,
                aggregate_id uuid NOT NULL UNIQUE,
                name text NOT NULL
            )
            """,
            *body_statements("projects", BODY),
        ]

    def changes(self, event: DomainEventProtocol[Any]) -> list[RowChange]:
        if isinstance(event, Project.Created):
            row = {
                "id": event.number,
                "aggregate_id": event.originator_id,
                **{c: event.fields[c] for c in _COLUMNS},
                "created_at": event.timestamp,
                "updated_at": event.timestamp,
                "version": event.originator_version,
            }
            return [Insert("projects", row), refresh_row("projects", BODY, event.originator_id)]
        if isinstance(event, Project.Updated):
            values = {name: change["to"] for name, change in event.changes.items()}
            if "status" in event.changes:
                values["archived_at"] = None
            values |= {"updated_at": event.timestamp, "version": event.originator_version}
            return [
                Update("projects", event.originator_id, values),
                refresh_row("projects", BODY, event.originator_id),
            ]
        if isinstance(event, Project.Archived):
            values = {
                "status": "archived",
                "archived_at": event.timestamp,
                "updated_at": event.timestamp,
                "version": event.originator_version,
            }
            return [
                Update("projects", event.originator_id, values),
                refresh_row("projects", BODY, event.originator_id),
            ]
        return self._client_changes(event)

    def _client_changes(self, event: DomainEventProtocol[Any]) -> list[RowChange]:
        """A client's name as its projects show it: a new name changes their bodies."""
        if isinstance(event, Client.Created):
            row = {
                "id": event.number,
                "aggregate_id": event.originator_id,
                "name": event.fields["name"],
            }
            return [Insert("project_clients", row)]
        if isinstance(event, Client.Updated) and "name" in event.changes:
            name = event.changes["name"]["to"]
            return [
                Update("project_clients", event.originator_id, {"name": name}),
                Refresh("projects", BODY, OF_CLIENT, event.originator_id),
            ]
        return []


_SELECT = sql.SQL(
    "SELECT p.*, c.name AS client FROM projects p LEFT JOIN clients c ON c.id = p.client_id"
)


class ProjectsView:
    """Queries on the projects read model."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self.pages = KeptPages(ProjectsProjection.name, KEPT_LIST_BYTES)

    async def get(self, project_id: int) -> dict[str, Any] | None:
        """One project with its client's name, or None."""
        return await fetch_one(
            self.pool, _SELECT + sql.SQL(" WHERE p.id = %(id)s"), {"id": project_id}
        )

    async def list_json(
        self,
        status: str | None,
        client_id: int | None,
        page: int,
        per_page: int,
        shown: int | None = None,
    ) -> BodyPage:
        """Projects in id order, optionally filtered by status and client, as their bodies."""
        params = {"status": status, "client_id": client_id}
        statement = list_statement(
            "SELECT p.body, p.id FROM projects p",
            "p.id",
            "SELECT count(*) FROM projects p",
            conditions_set(
                ("p.status = %(status)s", status), ("p.client_id = %(client_id)s", client_id)
            ),
        )
        return await self.pages.fetch(self.pool, statement, params, page, per_page, shown)

    async def names(self, project_ids: Sequence[int]) -> dict[int, str]:
        """Project names by id."""
        if not project_ids:
            return {}
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                "SELECT id, name FROM projects WHERE id = ANY(%s)", ([*project_ids],)
            )
            return {row["id"]: row["name"] for row in await cursor.fetchall()}
