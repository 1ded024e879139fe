"""The read pool's queue: never more callers than connections, its timeout, no lost places."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from psycopg_pool import PoolTimeout

from timetracker.http.queueing_pool import QueueingPool


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[QueueingPool]:
    made = QueueingPool(database_url, min_size=1, max_size=2, timeout=5, open=False)
    await made.open(wait=True, timeout=10)
    yield made
    await made.close()


async def test_callers_beyond_its_size_wait_their_turn(pool: QueueingPool) -> None:
    holding, most = 0, 0

    async def read(n: int) -> int:
        nonlocal holding, most
        async with pool.connection() as conn:
            holding += 1
            most = max(most, holding)
            row = await (await conn.execute("SELECT %s::int, pg_sleep(0.01)", (n,))).fetchone()
            holding -= 1
        assert row is not None
        return int(row[0])

    assert await asyncio.gather(*(read(n) for n in range(20))) == list(range(20))
    assert most == 2
    assert pool.get_stats()["pool_size"] <= 2


async def test_a_caller_waits_no_longer_than_the_timeout_and_no_place_is_lost(
    pool: QueueingPool,
) -> None:
    first, second = await pool.getconn(), await pool.getconn()
    began = time.monotonic()
    with pytest.raises(PoolTimeout):
        await pool.getconn(timeout=0.2)
    assert 0.2 <= time.monotonic() - began < 2
    waiting = asyncio.ensure_future(pool.getconn())
    await asyncio.sleep(0.05)
    waiting.cancel()  # a caller that gave up while queued
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await pool.putconn(first)
    await pool.putconn(second)
    # Both places are free again: two callers at once get a connection each, at once.
    both = await asyncio.wait_for(asyncio.gather(pool.getconn(), pool.getconn()), 1)
    for conn in both:
        await pool.putconn(conn)
