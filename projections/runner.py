"""Runs projections: follows the event log and applies it in batches, exactly once."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from timetracker.projections import tracking
from timetracker.projections.base import Projection

log = logging.getLogger(__name__)

BATCH_SIZE = 500
IDLE_POLL_SECONDS = 1.0
SCHEMA_LOCK_KEY = 7_410_001  # advisory lock: one process at a time creates tables


def create_schema(conninfo: str, projections: Sequence[Projection]) -> None:
    """Create the tracking table and every projection's tables (idempotent, race-free)."""
    with psycopg.connect(conninfo) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        cursor.execute(tracking.CREATE_TRACKING_TABLE)
        for projection in projections:
            for statement in projection.create_statements():
                cursor.execute(statement)  # type: ignore[arg-type]
            tracking.register(cursor, projection.name)


class LogFollower(ABC):
    """Reads the event log from a projection's position, `BATCH_SIZE` events at a time.

    Subclasses apply one batch atomically together with the new position, and refuse a
    batch when the stored position is not the one they read from (another runner moved
    on), so an event is never applied twice.
    """

    name: str

    def __init__(self, store: Application[Any]) -> None:
        self.store = store
        self.position = 0
        self.wake = threading.Event()

    @abstractmethod
    def stored_position(self) -> int:
        """The position recorded with the read model."""

    @abstractmethod
    def _apply(self, notifications: Sequence[Notification]) -> None:
        """Apply a batch and record its last position, atomically."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def catch_up(self) -> int:
        """Apply every event recorded so far; returns how many were read."""
        self.position = self.stored_position()
        done = 0
        while True:
            notifications = self.store.recorder.select_notifications(
                start=self.position, limit=BATCH_SIZE, inclusive_of_start=False
            )
            if not notifications:
                return done
            self._apply(notifications)
            done += len(notifications)

    def run(self, stop: threading.Event) -> None:
        """Catch up, then follow the log until `stop` is set."""
        while not stop.is_set():
            self.wake.clear()
            try:
                self.catch_up()
            except Exception:
                log.exception("Projection %s failed; retrying", self.name)
                self.close()
                stop.wait(IDLE_POLL_SECONDS)
                continue
            self.wake.wait(IDLE_POLL_SECONDS)


class ProjectionRunner(LogFollower):
    """Applies the log to one PostgreSQL projection, 500 events per transaction."""

    def __init__(self, store: Application[Any], projection: Projection, conninfo: str) -> None:
        super().__init__(store)
        self.projection = projection
        self.name = projection.name
        self.conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo)
        return self._conn

    def close(self) -> None:
        """Close the runner's database connection."""
        if self._conn is not None:
            self._conn.close()

    def stored_position(self) -> int:
        conn = self._connection()
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute("SELECT position FROM projection_tracking WHERE name = %s", (self.name,))
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def _apply(self, notifications: Sequence[Notification]) -> None:
        conn = self._connection()
        with conn.transaction(), conn.cursor() as cursor:
            stored = tracking.lock_position(cursor, self.name)
            if stored != self.position:
                # Another runner moved on; pick up from where it is.
                self.position = stored
                return
            for notification in notifications:
                event = self.store.mapper.to_domain_event(notification)
                self.projection.apply(cursor, event)
            tracking.move_position(cursor, self.name, notifications[-1].id)
        self.position = notifications[-1].id
