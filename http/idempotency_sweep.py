"""Removes stored `Idempotency-Key` answers once they expire, in batches, off the request path.

A key is kept `KEEP_HOURS` (24) from its first use; after that a request with it runs
afresh. Without a sweep, keys that never come back would stay forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from timetracker.http.idempotency import KEEP_HOURS
from timetracker.http.keys import read_pool_key

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 600.0
SWEEP_BATCH = 1000
# One short transaction per batch: at most SWEEP_BATCH rows locked at a time.
_DELETE_BATCH = f"""
DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM idempotency_keys
    WHERE created_at < now() - interval '{KEEP_HOURS} hours'
    LIMIT %s FOR UPDATE SKIP LOCKED))
"""


async def sweep_expired(pool: AsyncConnectionPool[Any], batch: int = SWEEP_BATCH) -> int:
    """Delete every expired key, `batch` rows per transaction; how many went."""
    removed = 0
    while True:
        async with pool.connection() as conn:
            cursor = await conn.execute(_DELETE_BATCH, (batch,))
            deleted = int(cursor.rowcount)
        removed += deleted
        if deleted < batch:
            return removed
        await asyncio.sleep(0)  # let requests have the pool between batches


async def sweep_forever(pool: AsyncConnectionPool[Any], every: float) -> None:
    """Sweep now and then every `every` seconds; a failed sweep is tried at the next turn."""
    while True:
        try:
            removed = await sweep_expired(pool)
            if removed:
                log.info("Removed %d expired Idempotency-Key answers", removed)
        except (psycopg.Error, OSError) as exc:
            log.warning("Sweeping expired Idempotency-Key answers failed: %s", exc)
        await asyncio.sleep(every)


async def idempotency_sweep_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the sweep in the background while the app runs."""
    task = asyncio.create_task(sweep_forever(app[read_pool_key], SWEEP_EVERY_SECONDS))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
