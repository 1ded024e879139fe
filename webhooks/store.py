"""The dispatcher's tables in PostgreSQL: its log position, the subscriptions as of that
position (with their secrets), and every delivery with its attempts.

The position, the subscriptions and the deliveries an event causes are written in one
transaction, so an event is turned into deliveries exactly once, and a restart goes on
from the position with the deliveries still pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from timetracker.domain.user import User
from timetracker.domain.webhook import Webhook

DISPATCHER = "dispatcher"
DELIVERY_STATES = ("pending", "delivered", "failed")
RESPONSE_KEEP_BYTES = 1024

# SQL: a subscription (`s`) that delivers now (active, and its owner still active); in Python,
# `Subscription.sends`.
SENDS = "s.active AND s.owner_active"

SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS webhook_dispatch (
        name text PRIMARY KEY,
        position bigint NOT NULL,
        quiet_until bigint NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS webhook_subscriptions (
        id integer PRIMARY KEY,
        owner_id integer NOT NULL,
        owner_is_admin boolean NOT NULL,
        owner_active boolean NOT NULL DEFAULT true,
        url text NOT NULL,
        events jsonb NOT NULL,
        secret text NOT NULL,
        active boolean NOT NULL,
        deleted boolean NOT NULL DEFAULT false
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id bigserial PRIMARY KEY,
        webhook_id integer NOT NULL,
        event_type text NOT NULL,
        position bigint,
        body bytea NOT NULL,
        state text NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        last_status integer,
        last_error text,
        last_response text,
        latency_ms double precision,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        first_attempt_at timestamptz,
        last_attempt_at timestamptz,
        delivered_at timestamptz,
        replay boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_pending_idx ON webhook_deliveries"
    " (webhook_id, id) WHERE state = 'pending'",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook_idx ON webhook_deliveries"
    " (webhook_id, id)",
    f"INSERT INTO webhook_dispatch (name, position) VALUES ('{DISPATCHER}', 0)"
    " ON CONFLICT DO NOTHING",
]
SCHEMA_LOCK_KEY = 7_410_019


@dataclass
class Subscription:
    """A subscription as the dispatcher knows it at its position, its owner's role and
    standing included (a demoted owner no longer receives others' entries, a deactivated
    one nothing)."""

    id: int
    owner_id: int
    owner_is_admin: bool
    url: str
    events: list[str]
    secret: str
    active: bool
    deleted: bool = False
    owner_active: bool = True

    @property
    def sends(self) -> bool:
        """Whether it delivers events now."""
        return self.active and self.owner_active

    def follow_owner(self, event: Any) -> bool:
        """Follow a User event of the owner; whether anything changed."""
        if isinstance(event, User.RoleChanged):
            self.owner_is_admin = event.role == "admin"
            return True
        if isinstance(event, User.Deactivated):
            self.owner_active = False
            return True
        return False

    def apply(self, event: Any) -> None:
        """Follow a Webhook event after its creation."""
        if isinstance(event, Webhook.Updated):
            for name in ("url", "events", "active"):
                if name in event.changes:
                    setattr(self, name, event.changes[name]["to"])
        elif isinstance(event, Webhook.SecretRotated):
            self.secret = event.secret
        elif isinstance(event, Webhook.Disabled):
            self.active = False
        elif isinstance(event, Webhook.Deleted):
            self.active = False
            self.deleted = True

    @classmethod
    def created(cls, event: Webhook.Created) -> Subscription:
        return cls(
            id=event.number,
            owner_id=event.owner_id,
            owner_is_admin=event.owner_is_admin,
            url=event.url,
            events=list(event.events),
            secret=event.secret,
            active=True,
        )


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to record: what goes to which subscription."""

    webhook_id: int
    event_type: str
    position: int | None
    body: bytes
    replay: bool = False


async def create_tables(conn: AsyncConnection[Any]) -> None:
    """Create the tables (idempotent; one process at a time)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        for statement in SCHEMA:
            await conn.execute(statement)  # type: ignore[arg-type]


async def read_position(conn: AsyncConnection[Any]) -> int:
    """The last log position the dispatcher has turned into deliveries."""
    return (await read_positions(conn))[0]


async def read_positions(conn: AsyncConnection[Any]) -> tuple[int, int]:
    """The dispatcher's position, and up to where it sends nothing (a restored history)."""
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(
            "SELECT position, quiet_until FROM webhook_dispatch WHERE name = %s", (DISPATCHER,)
        )
        row = await cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def in_maintenance(conn: AsyncConnection[Any]) -> bool:
    """Whether a restore is running (the dispatcher then waits)."""
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(
            "SELECT to_regclass('timetracker_maintenance') IS NOT NULL"
            " AND EXISTS (SELECT 1 FROM timetracker_maintenance)"
        )
        row = await cursor.fetchone()
    return bool(row and row[0])


def after_restore(conn: psycopg.Connection[Any], head: int) -> None:
    """After a restore replaced the log: follow it again from the start without sending
    anything up to `head` (the subscriptions are folded anew from the restored history),
    and give up the deliveries still pending for the replaced one."""
    for statement in SCHEMA:
        conn.execute(statement)  # type: ignore[arg-type]
    with conn.transaction():
        conn.execute(
            "UPDATE webhook_dispatch SET position = 0, quiet_until = %s WHERE name = %s",
            (head, DISPATCHER),
        )
        conn.execute("TRUNCATE webhook_subscriptions")
        conn.execute(
            "UPDATE webhook_deliveries SET state = 'failed',"
            " last_error = 'The event store was restored; not sent.' WHERE state = 'pending'"
        )


async def load_subscriptions(conn: AsyncConnection[Any]) -> dict[int, Subscription]:
    """Every subscription as of the dispatcher's position."""
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(
            "SELECT id, owner_id, owner_is_admin, url, events, secret, active, deleted,"
            " owner_active FROM webhook_subscriptions"
        )
        return {row[0]: Subscription(*row) for row in await cursor.fetchall()}


async def commit_batch(
    conn: AsyncConnection[Any],
    expected: int,
    position: int,
    subscriptions: list[Subscription],
    deliveries: list[NewDelivery],
) -> bool:
    """Move the position from `expected` to `position` with the subscriptions and deliveries
    the events in between caused, in one transaction; False (nothing written) when the
    position was not `expected` any more (another process leads now)."""
    async with conn.transaction():
        cursor = await conn.execute(
            "UPDATE webhook_dispatch SET position = %s WHERE name = %s AND position = %s",
            (position, DISPATCHER, expected),
        )
        if cursor.rowcount != 1:
            return False
        async with conn.cursor() as cur:
            if subscriptions:
                await cur.executemany(
                    "INSERT INTO webhook_subscriptions (id, owner_id, owner_is_admin, url, events,"
                    " secret, active, deleted, owner_active)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (id) DO UPDATE SET url = excluded.url, events = excluded.events,"
                    " secret = excluded.secret, active = excluded.active,"
                    " deleted = excluded.deleted, owner_is_admin = excluded.owner_is_admin,"
                    " owner_active = excluded.owner_active",
                    [
                        (
                            s.id,
                            s.owner_id,
                            s.owner_is_admin,
                            s.url,
                            Jsonb(s.events),
                            s.secret,
                            s.active,
                            s.deleted,
                            s.owner_active,
                        )
                        for s in subscriptions
                    ],
                )
            if deliveries:
                await insert_deliveries(cur, deliveries)
    return True


async def insert_deliveries(cur: Any, deliveries: list[NewDelivery]) -> None:
    """Record deliveries as pending, due now."""
    await cur.executemany(
        "INSERT INTO webhook_deliveries (webhook_id, event_type, position, body, replay)"
        " VALUES (%s, %s, %s, %s, %s)",
        [(d.webhook_id, d.event_type, d.position, d.body, d.replay) for d in deliveries],
    )


class DeliveriesView:
    """The deliveries as the API shows and changes them."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def create_tables(self) -> None:
        """Create the dispatcher's tables if missing."""
        async with self.pool.connection() as conn:
            await create_tables(conn)

    async def page(self, webhook_id: int, page: int, per_page: int) -> tuple[list[Any], int]:
        """One page of a webhook's deliveries, newest first, and their total."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT id, event_type, position, state, attempts, last_status, last_error,"
                " last_response, latency_ms, next_attempt_at, last_attempt_at, delivered_at,"
                " replay, created_at FROM webhook_deliveries WHERE webhook_id = %s"
                " ORDER BY id DESC LIMIT %s OFFSET %s",
                (webhook_id, per_page, (page - 1) * per_page),
            )
            rows = await cur.fetchall()
            await cur.execute(
                "SELECT count(*) AS n FROM webhook_deliveries WHERE webhook_id = %s",
                (webhook_id,),
            )
            counted = await cur.fetchone()
        return list(rows), int(counted["n"]) if counted else 0

    async def retry(self, webhook_id: int, delivery_id: int) -> bool:
        """Send a delivery again as soon as its turn comes (pending, due now); False when
        the webhook has no such delivery."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = now(),"
                " first_attempt_at = NULL WHERE id = %s AND webhook_id = %s",
                (delivery_id, webhook_id),
            )
            return bool(cursor.rowcount == 1)

    async def add(self, deliveries: list[NewDelivery]) -> None:
        """Record deliveries (a test, a replay) as pending."""
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await insert_deliveries(cur, deliveries)

    async def position(self) -> int:
        """The dispatcher's position."""
        async with self.pool.connection() as conn:
            return await read_position(conn)


def delivery_json(row: dict[str, Any]) -> dict[str, Any]:
    """One delivery as the API shows it (times as datetimes, for the JSON encoder)."""
    return {
        "id": row["id"],
        "event_type": row["event_type"],
        "position": row["position"],
        "state": row["state"],
        "attempts": row["attempts"],
        "last_status_code": row["last_status"],
        "last_error": row["last_error"],
        "last_response": row["last_response"],
        "latency_ms": None if row["latency_ms"] is None else round(row["latency_ms"], 1),
        "next_attempt_at": row["next_attempt_at"] if row["state"] == "pending" else None,
        "last_attempt_at": row["last_attempt_at"],
        "delivered_at": row["delivered_at"],
        "replay": row["replay"],
        "created_at": row["created_at"],
    }


def message_id(delivery_id: int) -> str:
    """The `webhook-id` of a delivery: the same for every attempt."""
    return f"msg_{delivery_id}"
