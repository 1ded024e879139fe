"""How far each read model has got in the log, and waiting for it to reach a position."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from timetracker.projections.redis_runner import live_key, tracking_key
from timetracker.projections.registry import REDIS_PROJECTION_NAMES

LOCAL_WAIT_SECONDS = 0.05  # longest wait for a wake-up before reading positions again
MAX_POLL_SECONDS = 0.01


@dataclass(eq=False)
class _Waiter:
    names: set[str]  # not yet reported at `position` by a runner of this process
    position: int
    woken: asyncio.Event = field(default_factory=asyncio.Event)


class Freshness:
    """Reads the positions of the PostgreSQL and the Redis read models."""

    def __init__(self, pool: AsyncConnectionPool[Any], redis: Redis, prefix: str) -> None:
        self.pool = pool
        self.redis = redis
        self.prefix = prefix
        self._waiters: set[_Waiter] = set()
        # The last position each runner of this process reported having committed.
        self._reported: dict[str, int] = {}

    def advance_notifier(self, loop: asyncio.AbstractEventLoop) -> Callable[[str, int], None]:
        """A callback for this process's runners (any thread): a read model has advanced."""

        def advanced(name: str, position: int) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(self._advanced, name, position)

        return advanced

    def _advanced(self, name: str, position: int) -> None:
        self._reported[name] = max(position, self._reported.get(name, 0))
        for waiter in self._waiters:
            if name in waiter.names and position >= waiter.position:
                waiter.names.discard(name)
                if not waiter.names:
                    waiter.woken.set()

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
        if not names:
            return {}
        # Two round trips whatever the number: every live pointer, then every position.
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.get(live_key(self.prefix, name))
            generations = await pipe.execute()
        live = {n: int(g) for n, g in zip(names, generations, strict=True) if g is not None}
        result = {name: 0 for name in names}
        if live:
            async with self.redis.pipeline(transaction=False) as pipe:
                for name, generation in live.items():
                    pipe.get(tracking_key(self.prefix, name, generation))
                values = await pipe.execute()
            for name, value in zip(live, values, strict=True):
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

        Reads the positions once; while some are short, waits. When this process runs their
        runners, a runner's report that it has committed the position is enough (no second
        read); at most `LOCAL_WAIT_SECONDS` pass without reading again, in case the lead
        moved to another process. Otherwise it polls: the first check comes after a
        millisecond (an event reaches a read model about 1.5 ms after commit), then the
        interval doubles up to 10 ms.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.001
        pending = list(names)
        while True:
            reached = await self.positions(pending)
            for name in pending:
                # A report above what the store shows is older than a reset (a restore):
                # never let it stand in for the store.
                if reached.get(name, 0) < self._reported.get(name, 0):
                    self._reported[name] = reached.get(name, 0)
            pending = [n for n in pending if reached.get(n, 0) < position]
            if not pending:
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            if all(name in self._reported for name in pending):
                pending = await self._reports(pending, position, min(left, LOCAL_WAIT_SECONDS))
                if not pending:
                    return True
            else:
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, MAX_POLL_SECONDS)

    async def _reports(self, names: list[str], position: int, timeout: float) -> list[str]:
        """Wait until this process's runners report `names` at `position`, or `timeout`;
        returns those not reported."""
        waiter = _Waiter({n for n in names if self._reported.get(n, 0) < position}, position)
        if not waiter.names:
            return []
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter.woken.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)
        return sorted(waiter.names)
