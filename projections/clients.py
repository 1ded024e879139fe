"""The clients read model: one row per client."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEventProtocol
from psycopg import Cursor, sql
from psycopg_pool import AsyncConnectionPool

from timetracker.domain.client import CLIENT_FIELDS, Client
from timetracker.projections.base import Projection
from timetracker.projections.paging import Page, fetch_one, fetch_page, where


class ClientsProjection(Projection):
    """Keeps the `clients` table in step with Client events."""

    name = "clients"
    tables = ("clients",)

    def create_statements(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS clients (
                id integer PRIMARY KEY,
                aggregate_id uuid NOT NULL UNIQUE,
                name text NOT NULL,
                email text,
                company text,
                phone text,
                contact_person text,
                address text,
                default_hourly_rate numeric,
                status text NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                version integer NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS clients_status_idx ON clients (status, id)",
        ]

    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        if isinstance(event, Client.Created):
            columns = sql.SQL(", ").join(sql.Identifier(c) for c in CLIENT_FIELDS)
            cursor.execute(
                sql.SQL(
                    "INSERT INTO clients (id, aggregate_id, {}, created_at, updated_at, version)"
                    " VALUES (%s, %s, {}, %s, %s, %s)"
                ).format(columns, sql.SQL(", ").join(sql.Placeholder() * len(CLIENT_FIELDS))),
                [event.number, event.originator_id]
                + [event.fields[c] for c in CLIENT_FIELDS]
                + [event.timestamp, event.timestamp, event.originator_version],
            )
        elif isinstance(event, Client.Updated):
            assignments = [
                sql.SQL("{} = %s").format(sql.Identifier(name)) for name in event.changes
            ]
            cursor.execute(
                sql.SQL(
                    "UPDATE clients SET {}, updated_at = %s, version = %s WHERE aggregate_id = %s"
                ).format(sql.SQL(", ").join(assignments)),
                [change["to"] for change in event.changes.values()]
                + [event.timestamp, event.originator_version, event.originator_id],
            )
        elif isinstance(event, Client.Archived):
            cursor.execute(
                "UPDATE clients SET status = 'archived', updated_at = %s, version = %s"
                " WHERE aggregate_id = %s",
                (event.timestamp, event.originator_version, event.originator_id),
            )


class ClientsView:
    """Queries on the clients read model."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def get(self, client_id: int) -> dict[str, Any] | None:
        """One client, or None."""
        return await fetch_one(
            self.pool, sql.SQL("SELECT * FROM clients WHERE id = %(id)s"), {"id": client_id}
        )

    async def list(self, status: str | None, page: int, per_page: int) -> Page:
        """Clients in id order, optionally filtered by status."""
        conditions: list[sql.Composable] = []
        if status is not None:
            conditions.append(sql.SQL("status = %(status)s"))
        return await fetch_page(
            self.pool,
            sql.SQL("SELECT * FROM clients")
            + where(conditions)
            + sql.SQL(" ORDER BY id LIMIT %(limit)s OFFSET %(offset)s"),
            sql.SQL("SELECT count(*) FROM clients") + where(conditions),
            {"status": status},
            page,
            per_page,
        )
