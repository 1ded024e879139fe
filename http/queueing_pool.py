"""The read pool: callers beyond its size wait in a queue of their own, not in the pool's.

When every connection is lent, psycopg_pool parks a caller in its waiting list with a
condition and `asyncio.wait_for` (a task and a timer per wait), and hands connections over
through it: at 32 concurrent list reads on a pool of 10, 13% of a read's CPU went to
taking and giving back connections. Here a semaphore of the pool's size is taken first
(a future per wait, no task), so a caller reaches the pool only when a connection is free
for it. The pool's timeout still bounds the whole wait (`PoolTimeout`), and its statistics
still count the waits.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from psycopg_pool import AsyncConnectionPool, PoolTimeout


class QueueingPool(AsyncConnectionPool[Any]):
    """An `AsyncConnectionPool` whose callers queue on a semaphore of its size."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._permits: asyncio.Semaphore | None = None  # made in the loop that uses it

    async def getconn(self, timeout: float | None = None) -> Any:
        """A connection, after waiting (at most `timeout`, else the pool's) for a free one."""
        if timeout is None:
            timeout = self.timeout
        if self._permits is None:
            self._permits = asyncio.Semaphore(self.max_size)
        permits = self._permits
        started = time.monotonic()
        if permits.locked():
            # The pool's statistics count this wait as its own (`get_stats`): queued, how
            # long, and a request that gave up as an error.
            self._stats[self._REQUESTS_QUEUED] += 1
            try:
                async with asyncio.timeout(timeout):
                    await permits.acquire()
            except TimeoutError:
                self._stats[self._REQUESTS_NUM] += 1
                self._stats[self._REQUESTS_ERRORS] += 1
                raise PoolTimeout(f"couldn't get a connection after {timeout:.2f} sec") from None
            finally:
                self._stats[self._REQUESTS_WAIT_MS] += int(1000 * (time.monotonic() - started))
        else:
            await permits.acquire()  # free: taken at once
        try:
            return await super().getconn(max(0.0, timeout - (time.monotonic() - started)))
        except BaseException:
            permits.release()
            raise

    async def putconn(self, conn: Any) -> None:
        """Give a connection back, and its place to the next caller in the queue."""
        try:
            await super().putconn(conn)
        finally:
            if self._permits is not None:
                self._permits.release()
