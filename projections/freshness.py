"""How far each read model has got in the log, and waiting for it to reach a position."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from timetracker.projections.redis_runner import live_key, tracking_key
from timetracker.projections.registry import REDIS_PROJECTION_NAMES


class Freshness:
    """Reads the positions of the PostgreSQL and the Redis read models."""

    def __init__(self, pool: AsyncConnectionPool[Any], redis: Redis, prefix: str) -> None:
        self.pool = pool
        self.redis = redis
        self.prefix = prefix

    async def positions(self, names: Iterable[str] | None = None) -> dict[str, int]:
        """The position of each named read model (all of them when `names` is None)."""
        wanted = None if names is None else set(names)
        result: dict[str, int] = {}
        if wanted is None or wanted - REDIS_PROJECTION_NAMES:
            result.update(await self.postgres_positions(wanted))
        if wanted is None or wanted & REDIS_PROJECTION_NAMES:
            result.update(await self.redis_positions(wanted))
        return result

    async def postgres_positions(self, wanted: set[str] | None = None) -> dict[str, int]:
        """Positions of the PostgreSQL read models (all, or those in `wanted`)."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute("SELECT name, position FROM projection_tracking")
            rows = await cur.fetchall()
        return {str(n): int(p) for n, p in rows if wanted is None or n in wanted}

    async def redis_positions(self, wanted: set[str] | None = None) -> dict[str, int]:
        """Positions of the live Redis read models (0 while none is live)."""
        names = sorted(REDIS_PROJECTION_NAMES & (wanted or REDIS_PROJECTION_NAMES))
        result: dict[str, int] = {}
        for name in names:
            generation = await self.redis.get(live_key(self.prefix, name))
            if generation is None:
                result[name] = 0
                continue
            value = await self.redis.get(tracking_key(self.prefix, name, int(generation)))
            result[name] = int(value or 0)
        return result

    async def head(self) -> int:
        """The position of the last event in the store."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute("SELECT max(notification_id) FROM timetracking_events")
            row = await cur.fetchone()
        return int(row[0] or 0) if row else 0

    async def wait_for(self, names: Sequence[str], position: int, timeout: float) -> bool:
        """Wait until every named read model has applied `position`; False on timeout.

        Polls: the first check comes after a millisecond (an event reaches a read model
        about 1.5 ms after commit), then the interval doubles up to 10 ms.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.001
        pending = list(names)
        while True:
            reached = await self.positions(pending)
            pending = [n for n in pending if reached.get(n, 0) < position]
            if not pending:
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.01)
