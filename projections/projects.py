"""The projects read model: one row per project, listed by status and client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from psycopg import Cursor, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from timetracker.domain.project import Project
from timetracker.projections.base import Projection
from timetracker.projections.paging import Page, fetch_one, fetch_page, where

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

    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        if isinstance(event, Project.Created):
            values = [event.fields[c] for c in _COLUMNS]
            cursor.execute(
                "INSERT INTO projects (id, aggregate_id, name, description, client_id,"
                " hourly_rate, estimated_hours, billable, status, created_at, updated_at,"
                " version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    event.number,
                    event.originator_id,
                    *values,
                    event.timestamp,
                    event.timestamp,
                    event.originator_version,
                ],
            )
        elif isinstance(event, Project.Updated):
            assignments: list[sql.Composable] = [
                sql.SQL("{} = %s").format(sql.Identifier(name)) for name in event.changes
            ]
            values = [change["to"] for change in event.changes.values()]
            if "status" in event.changes:
                assignments.append(sql.SQL("archived_at = NULL"))
            cursor.execute(
                sql.SQL(
                    "UPDATE projects SET {}, updated_at = %s, version = %s WHERE aggregate_id = %s"
                ).format(sql.SQL(", ").join(assignments)),
                [*values, event.timestamp, event.originator_version, event.originator_id],
            )
        elif isinstance(event, Project.Archived):
            cursor.execute(
                "UPDATE projects SET status = 'archived', archived_at = %s, updated_at = %s,"
                " version = %s WHERE aggregate_id = %s",
                (event.timestamp, event.timestamp, event.originator_version, event.originator_id),
            )


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
