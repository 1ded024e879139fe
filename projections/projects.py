"""The projects read model: one row per project, listed by status and client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from timetracker.domain.project import Project
from timetracker.projections.base import Projection
from timetracker.projections.paging import Page, fetch_one, fetch_page, where
from timetracker.projections.rows import Insert, RowChange, Update

_COLUMNS = (
    "name",
    "description",
    "client_id",
    "hourly_rate",
    "estimated_hours",
    "billable",
    "status",
)


class ProjectsProjection(Projection):
    """Keeps the `projects` table in step with Project events."""

    name = "projects"
    tables = ("projects",)

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
                version integer NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS projects_status_idx ON projects (status, id)",
            "CREATE INDEX IF NOT EXISTS projects_client_idx ON projects (client_id, id)",
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
            return [Insert("projects", row)]
        if isinstance(event, Project.Updated):
            values = {name: change["to"] for name, change in event.changes.items()}
            if "status" in event.changes:
                values["archived_at"] = None
            values |= {"updated_at": event.timestamp, "version": event.originator_version}
            return [Update("projects", event.originator_id, values)]
        if isinstance(event, Project.Archived):
            values = {
                "status": "archived",
                "archived_at": event.timestamp,
                "updated_at": event.timestamp,
                "version": event.originator_version,
            }
            return [Update("projects", event.originator_id, values)]
        return []


_SELECT = sql.SQL(
    "SELECT p.*, c.name AS client FROM projects p LEFT JOIN clients c ON c.id = p.client_id"
)


class ProjectsView:
    """Queries on the projects read model."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def get(self, project_id: int) -> dict[str, Any] | None:
        """One project with its client's name, or None."""
        return await fetch_one(
            self.pool, _SELECT + sql.SQL(" WHERE p.id = %(id)s"), {"id": project_id}
        )

    async def list(
        self, status: str | None, client_id: int | None, page: int, per_page: int
    ) -> Page:
        """Projects in id order, optionally filtered by status and client."""
        conditions: list[sql.Composable] = []
        if status is not None:
            conditions.append(sql.SQL("p.status = %(status)s"))
        if client_id is not None:
            conditions.append(sql.SQL("p.client_id = %(client_id)s"))
        params = {"status": status, "client_id": client_id}
        return await fetch_page(
            self.pool,
            _SELECT
            + where(conditions)
            + sql.SQL(" ORDER BY p.id LIMIT %(limit)s OFFSET %(offset)s"),
            sql.SQL("SELECT count(*) FROM projects p") + where(conditions),
            params,
            page,
            per_page,
        )

    async def names(self, project_ids: Sequence[int]) -> dict[int, str]:
        """Project names by id."""
        if not project_ids:
            return {}
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                "SELECT id, name FROM projects WHERE id = ANY(%s)", ([*project_ids],)
            )
            return {row["id"]: row["name"] for row in await cursor.fetchall()}
