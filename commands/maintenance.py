"""Maintenance mode: while a restore runs, no process may write and the API answers 503.

The flag is a row in a small PostgreSQL table, so every process of the service sees it.
API processes read it (cached for a second) to answer 503 before doing any work. Writes
are refused by the database itself: a trigger on the events table rejects every insert
while the row exists, except from the restoring transaction, which marks itself with a
setting. So a write that slipped past the API's cached check, or one made from the
command line, cannot land in a store being restored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql

TABLE = "timetracker_maintenance"
RESTORING_SETTING = "timetracker.restoring"  # set to 'on' by the restoring transaction
GUARD_LOCK_KEY = 7_410_101  # advisory lock: one process at a time creates the guard
DEFAULT_RETRY_AFTER = 30
CHECK_SECONDS = 1.0  # API processes read the flag at least this often
# How long a restore waits after raising the flag before it changes anything: by then every
# API process answers 503, so no request starts reading a store being replaced.
SETTLE_SECONDS = CHECK_SECONDS + 0.5

CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id integer PRIMARY KEY CHECK (id = 1),
    reason text NOT NULL,
    retry_after integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
)
"""

_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.timetracker_refuse_writes_in_maintenance()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('timetracker.restoring', true) IS DISTINCT FROM 'on'
       AND EXISTS (SELECT 1 FROM public.timetracker_maintenance) THEN
        RAISE EXCEPTION 'The event store is in maintenance (a restore is running); try again later.'
            USING ERRCODE = 'P0001';
    END IF;
    RETURN NULL;
END
$$
"""

_GUARD_TRIGGER = """
CREATE OR REPLACE TRIGGER timetracker_maintenance_guard
BEFORE INSERT ON {schema}.{table}
FOR EACH STATEMENT EXECUTE FUNCTION {schema}.timetracker_refuse_writes_in_maintenance()
"""


@dataclass(frozen=True)
class MaintenanceState:
    """Why the store is in maintenance, since when, and when to try again."""

    reason: str
    retry_after: int
    started_at: datetime


def create_write_guard(datastore: PostgresDatastore, events_table: str) -> None:
    """Create the maintenance table and the trigger that refuses writes during maintenance.

    Created once: replacing a trigger locks the events table against writers, which a
    second process starting beside a busy one should not do.
    """
    schema = sql.Identifier(datastore.schema)
    with datastore.transaction(commit=True) as cursor:
        cursor.execute(sql.SQL("SELECT pg_advisory_xact_lock({})").format(GUARD_LOCK_KEY))
        cursor.execute(CREATE_TABLE)
        cursor.execute(
            "SELECT 1 FROM pg_trigger WHERE tgname = 'timetracker_maintenance_guard'"
            " AND tgrelid = to_regclass(%s)",
            (f'"{datastore.schema}"."{events_table}"',),
        )
        if cursor.fetchone() is not None:
            return
        cursor.execute(sql.SQL(_GUARD_FUNCTION).format(schema=schema))
        cursor.execute(
            sql.SQL(_GUARD_TRIGGER).format(schema=schema, table=sql.Identifier(events_table))
        )


def create_table(conn: psycopg.Connection[Any]) -> None:
    """Create the maintenance table if it is missing."""
    conn.execute(CREATE_TABLE)


def read_state(conn: psycopg.Connection[Any]) -> MaintenanceState | None:
    """The current maintenance, or None."""
    row = conn.execute(f"SELECT reason, retry_after, started_at FROM {TABLE}").fetchone()
    return None if row is None else MaintenanceState(str(row[0]), int(row[1]), row[2])


def enter(
    conn: psycopg.Connection[Any], reason: str, retry_after: int = DEFAULT_RETRY_AFTER
) -> None:
    """Start maintenance (committed at once, so every process sees it)."""
    with conn.transaction():
        conn.execute(CREATE_TABLE)
        conn.execute(
            f"INSERT INTO {TABLE} (id, reason, retry_after) VALUES (1, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET reason = EXCLUDED.reason,"
            " retry_after = EXCLUDED.retry_after, started_at = now()",
            (reason, retry_after),
        )


def leave(conn: psycopg.Connection[Any]) -> None:
    """End maintenance."""
    with conn.transaction():
        conn.execute(CREATE_TABLE)
        conn.execute(f"DELETE FROM {TABLE}")


def allow_restore_writes(cursor: psycopg.Cursor[Any]) -> None:
    """Let this transaction write to the events table during maintenance."""
    cursor.execute("SELECT set_config(%s, 'on', true)", (RESTORING_SETTING,))
