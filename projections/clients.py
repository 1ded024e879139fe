"""The clients read model: one row per client."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEventProtocol
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from timetracker.domain.client import CLIENT_FIELDS, Client
from timetracker.projections.base import Projection
from timetracker.projections.bodies import body_statements, json_object, number, refresh_row, time
from timetracker.projections.kept_pages import KEPT_LIST_BYTES, KeptPages
from timetracker.projections.paging import (
    BodyPage,
    conditions_set,
    fetch_one,
    list_statement,
)
from timetracker.projections.rows import Insert, RowChange, Update

# A client as the API shows it (`http/clients.py::client_json`).
BODY = json_object(
    {
        "id": "id",
        "name": "name",
        "email": "email",
        "company": "company",
        "phone": "phone",
        "contact_person": "contact_person",
        "address": "address",
        "default_hourly_rate": number("default_hourly_rate"),
        "status": "status",
        "created_at": time("created_at"),
        "updated_at": time("updated_at"),
        "version": "version",
    }
)


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
                version integer NOT NULL,
                body json
            )
            """,
            "CREATE INDEX IF NOT EXISTS clients_status_idx ON clients (status, id)",
            *body_statements("clients", BODY),
        ]

    def changes(self, event: DomainEventProtocol[Any]) -> list[RowChange]:
        if isinstance(event, Client.Created):
            row = {
                "id": event.number,
                "aggregate_id": event.originator_id,
                **{c: event.fields[c] for c in CLIENT_FIELDS},
                "created_at": event.timestamp,
                "updated_at": event.timestamp,
                "version": event.originator_version,
            }
            return [Insert("clients", row), refresh_row("clients", BODY, event.originator_id)]
        if isinstance(event, Client.Updated):
            values = {name: change["to"] for name, change in event.changes.items()}
            return [
                Update("clients", event.originator_id, {**values, **_stamped(event)}),
                refresh_row("clients", BODY, event.originator_id),
            ]
        if isinstance(event, Client.Archived):
            values = {"status": "archived", **_stamped(event)}
            return [
                Update("clients", event.originator_id, values),
                refresh_row("clients", BODY, event.originator_id),
            ]
        return []


def _stamped(event: Any) -> dict[str, Any]:
    return {"updated_at": event.timestamp, "version": event.originator_version}


class ClientsView:
    """Queries on the clients read model."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self.pages = KeptPages(ClientsProjection.name, KEPT_LIST_BYTES)

    async def get(self, client_id: int) -> dict[str, Any] | None:
        """One client, or None."""
        return await fetch_one(
            self.pool, sql.SQL("SELECT * FROM clients WHERE id = %(id)s"), {"id": client_id}
        )

    async def list_json(
        self, status: str | None, page: int, per_page: int, shown: int | None = None
    ) -> BodyPage:
        """Clients in id order, optionally filtered by status, as their bodies."""
        statement = list_statement(
            "SELECT body, id FROM clients",
            "id",
            "SELECT count(*) FROM clients",
            conditions_set(("status = %(status)s", status)),
        )
        return await self.pages.fetch(
            self.pool, statement, {"status": status}, page, per_page, shown
        )
