"""The webhooks read model: one row per subscription (never its secret)."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEventProtocol
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from timetracker.domain.webhook import Webhook
from timetracker.projections.base import Projection
from timetracker.projections.paging import Page, fetch_one, fetch_page, where
from timetracker.projections.rows import Insert, RowChange, Update

_COLUMNS = ("url", "events", "description", "active", "disabled_reason")


class WebhooksProjection(Projection):
    """Keeps the `webhooks` table in step with Webhook events."""

    name = "webhooks"
    tables = ("webhooks",)

    def create_statements(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS webhooks (
                id integer PRIMARY KEY,
                aggregate_id uuid NOT NULL UNIQUE,
                owner_id integer NOT NULL,
                url text NOT NULL,
                events text[] NOT NULL,
                description text,
                active boolean NOT NULL,
                disabled_reason text,
                deleted boolean NOT NULL DEFAULT false,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                version integer NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS webhooks_owner_idx ON webhooks (owner_id, id)",
        ]

    def changes(self, event: DomainEventProtocol[Any]) -> list[RowChange]:
        if isinstance(event, Webhook.Created):
            row = {
                "id": event.number,
                "aggregate_id": event.originator_id,
                "owner_id": event.owner_id,
                "url": event.url,
                "events": list(event.events),
                "description": event.description,
                "active": True,
                "disabled_reason": None,
                "deleted": False,
                "created_at": event.timestamp,
                "updated_at": event.timestamp,
                "version": event.originator_version,
            }
            return [Insert("webhooks", row)]
        values: dict[str, Any]
        if isinstance(event, Webhook.Updated):
            values = {n: c["to"] for n, c in event.changes.items() if n in _COLUMNS}
        elif isinstance(event, Webhook.Disabled):
            values = {"active": False, "disabled_reason": event.reason}
        elif isinstance(event, Webhook.Deleted):
            values = {"active": False, "deleted": True}
        elif isinstance(event, Webhook.SecretRotated):
            values = {}
        else:
            return []
        stamped = {"updated_at": event.timestamp, "version": event.originator_version}
        return [Update("webhooks", event.originator_id, {**values, **stamped})]


class WebhooksView:
    """Queries on the webhooks read model (deleted webhooks are left out)."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def get(self, webhook_id: int) -> dict[str, Any] | None:
        """One webhook that is not deleted, or None."""
        return await fetch_one(
            self.pool,
            sql.SQL("SELECT * FROM webhooks WHERE id = %(id)s AND NOT deleted"),
            {"id": webhook_id},
        )

    async def list(self, owner_id: int | None, page: int, per_page: int) -> Page:
        """Webhooks in id order: one owner's, or everyone's (owner_id None)."""
        conditions: list[sql.Composable] = [sql.SQL("NOT deleted")]
        if owner_id is not None:
            conditions.append(sql.SQL("owner_id = %(owner)s"))
        return await fetch_page(
            self.pool,
            sql.SQL("SELECT * FROM webhooks")
            + where(conditions)
            + sql.SQL(" ORDER BY id LIMIT %(limit)s OFFSET %(offset)s"),
            sql.SQL("SELECT count(*) FROM webhooks") + where(conditions),
            {"owner": owner_id},
            page,
            per_page,
        )
