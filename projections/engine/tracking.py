"""Where each projection records the last log position it has applied."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection, Cursor
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

# `schema` is where the projection's tables live: each build of a read model (a
# generation) gets a schema of its own, and views in `public` point at the live one.
CREATE_TRACKING_TABLE = """
CREATE TABLE IF NOT EXISTS projection_tracking (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    schema text,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


# Every change of a position is NOTIFYed on this channel as `name:position` when it commits
# (heard by serving processes: `position_news.py`). TRUNCATE says nothing: a restore that
# empties the table registers every read model again (at 0) before replaying.
POSITIONS_CHANNEL = "projection_positions"
CREATE_POSITIONS_TRIGGER = (
    f"""
CREATE OR REPLACE FUNCTION projection_tracking_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN  -- a read model no longer tracked is at 0
        PERFORM pg_notify('{POSITIONS_CHANNEL}', OLD.name || ':0');
    ELSE
        PERFORM pg_notify('{POSITIONS_CHANNEL}', NEW.name || ':' || NEW.position);
    END IF;
    RETURN NULL;
END $$
""",
    """
CREATE OR REPLACE TRIGGER projection_tracking_notify
AFTER INSERT OR UPDATE OF position OR DELETE ON projection_tracking
FOR EACH ROW EXECUTE FUNCTION projection_tracking_notify()
""",
)


def create_positions_trigger(cursor: Cursor[Any]) -> None:
    """Create the trigger that NOTIFYs position changes, unless it exists.

    Only when missing: creating a trigger locks `projection_tracking` against the runners'
    updates until the transaction ends, and `create_schema`, which calls this, goes on to
    lock read-model tables that a runner's batch may hold (a deadlock, seen in the tests).
    """
    cursor.execute(
        "SELECT 1 FROM pg_trigger WHERE tgrelid = 'projection_tracking'::regclass"
        " AND tgname = 'projection_tracking_notify'"
    )
    if cursor.fetchone() is None:
        for statement in CREATE_POSITIONS_TRIGGER:
            cursor.execute(statement)


def register(cursor: Cursor[Any], name: str, schema: str | None = None) -> None:
    """Start tracking a projection at position 0 unless it is tracked already."""
    cursor.execute(
        "INSERT INTO projection_tracking (name, schema) VALUES (%s, %s)"
        " ON CONFLICT (name) DO NOTHING",
        (name, schema),
    )


def lock_row(cursor: Cursor[Any], name: str) -> tuple[int, str | None]:
    """The projection's position and schema, its row locked until the transaction ends."""
    cursor.execute(
        "SELECT position, schema FROM projection_tracking WHERE name = %s FOR UPDATE", (name,)
    )
    row = cursor.fetchone()
    if row is None:
        raise LookupError(f"Projection {name} is not registered.")
    return int(row[0]), row[1]


def read_row(cursor: Cursor[Any], name: str) -> tuple[int, str | None] | None:
    """The projection's position and schema, or None when it is not registered."""
    cursor.execute("SELECT position, schema FROM projection_tracking WHERE name = %s", (name,))
    row = cursor.fetchone()
    return None if row is None else (int(row[0]), row[1])


def read_positions(cursor: Cursor[Any], names: Sequence[str]) -> dict[str, int]:
    """The positions of the named projections that are registered."""
    cursor.execute(
        "SELECT name, position FROM projection_tracking WHERE name = ANY(%s)", (list(names),)
    )
    return {str(name): int(position) for name, position in cursor.fetchall()}


def lock_rows(
    cursor: Cursor[Any], names: Sequence[str], skip_locked: bool = False
) -> dict[str, tuple[int, str | None]]:
    """Positions and schemas of the named projections, their rows locked in name order (so
    that two lockers of several rows never deadlock) until the transaction ends.

    With `skip_locked`, rows another transaction holds (a verify, a reset) are left out
    instead of waited for.
    """
    cursor.execute(
        "SELECT name, position, schema FROM projection_tracking"
        " WHERE name = ANY(%s) ORDER BY name FOR UPDATE" + (" SKIP LOCKED" if skip_locked else ""),
        (list(names),),
    )
    return {str(name): (int(at), schema) for name, at, schema in cursor.fetchall()}


def move_positions(cursor: Cursor[Any], names: Sequence[str], position: int) -> None:
    """Record that each named projection has applied everything up to `position`."""
    cursor.execute(
        "UPDATE projection_tracking SET position = %s, updated_at = now() WHERE name = ANY(%s)",
        (position, list(names)),
    )


def move_position(cursor: Cursor[Any], name: str, position: int) -> None:
    """Record that the projection has applied everything up to `position`."""
    cursor.execute(
        "UPDATE projection_tracking SET position = %s, updated_at = now() WHERE name = %s",
        (position, name),
    )


async def positions(conn: AsyncConnection[Any]) -> dict[str, int]:
    """Every projection's position."""
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute("SELECT name, position FROM projection_tracking")
        return {str(row[0]): int(row[1]) for row in await cursor.fetchall()}


async def wait_for(
    pool: AsyncConnectionPool[Any], names: Sequence[str], position: int, timeout: float
) -> bool:
    """Wait until every named projection has applied `position`; False on timeout.

    Polls the tracking rows: the first checks come after a millisecond (an event reaches a
    read model about 1.5 ms after commit), then the interval grows to 10 ms.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.001
    while True:
        async with pool.connection() as conn, conn.cursor() as cursor:
            await cursor.execute(
                "SELECT count(*) FROM projection_tracking WHERE name = ANY(%s) AND position >= %s",
                (list(names), position),
            )
            row = await cursor.fetchone()
        if row is not None and _count(row) >= len(names):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.01)


def _count(row: Any) -> int:
    return int(row["count"] if isinstance(row, dict) else row[0])
