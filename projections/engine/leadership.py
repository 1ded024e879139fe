"""Which projections this process leads: PostgreSQL advisory locks on one connection.

Across every process that runs projections, one runner per projection holds its lock and
works; the others stand by. A lock lives as long as its connection, so when the leading
process dies, PostgreSQL releases it and a standby takes over within a second or so.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 7_410_002  # with hashtext(projection name): one advisory lock each
CHECK_SECONDS = 1.0  # how often a held lead's connection is checked


class Leadership:
    """Takes and keeps projection leads for the runners of one process."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._checked_at = 0.0

    def lead(self, name: str) -> bool:
        """Take the lead of `name` if nobody holds it; True while this process holds it."""
        with self._lock:
            try:
                conn = self._connection()
                if name in self._held:
                    # The lead lasts as long as the connection: look at it at most once a
                    # second (every runner asks on every wake-up). Exactly-once never
                    # depends on the lead, only on the tracking position.
                    now = time.monotonic()
                    if now - self._checked_at >= CHECK_SECONDS:
                        conn.execute("SELECT 1")
                        self._checked_at = now
                    return True
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LEADER_LOCK_KEY, name)
                ).fetchone()
            except psycopg.Error:
                self._drop()
                return False
            if row and row[0]:
                self._held.add(name)
                log.info("Leading projection %s", name)
                return True
            return False

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._drop()
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
        return self._conn

    def _drop(self, giving_up: bool = False) -> None:
        if self._held and giving_up:
            log.info("Gave up the lead of %s", ", ".join(sorted(self._held)))
        elif self._held:
            log.warning("Lost the lead of %s", ", ".join(sorted(self._held)))
        self._held.clear()
        self._checked_at = 0.0
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Give up every lead."""
        with self._lock:
            self._drop(giving_up=True)
