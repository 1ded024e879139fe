"""This process's view of the maintenance flag (a row every process of the service shares)."""

from __future__ import annotations

import logging
import time
from typing import Any

from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from timetracker.commands.maintenance import CHECK_SECONDS, TABLE, MaintenanceState

log = logging.getLogger(__name__)

CACHE_SECONDS = CHECK_SECONDS  # a restore waits this long (and a little more) before it starts
READ_TIMEOUT_SECONDS = (
    1.0  # for a pooled connection: a database that is down must not stall requests
)


class MaintenanceFlag:
    """Reads the flag at most once a second; requests in between use the last answer."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], cache_seconds: float = CACHE_SECONDS
    ) -> None:
        self.pool = pool
        self.cache_seconds = cache_seconds
        self._state: MaintenanceState | None = None
        self._read_at = float("-inf")

    async def current(self) -> MaintenanceState | None:
        """The maintenance under way, if any (as of at most a second ago)."""
        if time.monotonic() - self._read_at >= self.cache_seconds:
            await self.fresh()
        return self._state

    async def fresh(self) -> MaintenanceState | None:
        """The maintenance under way, if any, read now.

        If the database cannot say, the last answer stands (writes are refused by the
        database itself during maintenance, whatever this process believes).
        """
        self._read_at = time.monotonic()
        try:
            async with (
                self.pool.connection(timeout=READ_TIMEOUT_SECONDS) as conn,
                conn.cursor(row_factory=tuple_row) as cur,
            ):
                await cur.execute(f"SELECT reason, retry_after, started_at FROM {TABLE}")
                row = await cur.fetchone()
        except Exception as exc:  # noqa: BLE001 - an unreadable flag keeps its last value
            log.warning("Could not read the maintenance flag: %s", exc)
            return self._state
        self._state = None if row is None else MaintenanceState(row[0], int(row[1]), row[2])
        return self._state
