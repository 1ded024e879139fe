"""When each API token was last used: written at most once a minute per token, not per request.

This is operational metadata, not a domain fact, so it lives in its own table beside the
read models rather than in the event log; the table is created with the write side's
(`commands/schema.py`).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

TOUCH_INTERVAL_SECONDS = 60


class TokenUsage:
    """Records token use, skipping tokens this process recorded within the last minute."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self._touched: dict[int, float] = {}

    async def touch(self, token_id: int) -> None:
        """Note that the token was used now (a no-op within a minute of the last note)."""
        now = time.monotonic()
        if now - self._touched.get(token_id, -TOUCH_INTERVAL_SECONDS) < TOUCH_INTERVAL_SECONDS:
            return
        self._touched[token_id] = now
        async with self.pool.connection() as conn:
            # Other processes note uses too; the row changes at most once a minute.
            await conn.execute(
                "INSERT INTO token_usage (token_id, last_used_at) VALUES (%s, now())"
                " ON CONFLICT (token_id) DO UPDATE SET last_used_at = excluded.last_used_at"
                " WHERE token_usage.last_used_at"
                f" < excluded.last_used_at - interval '{TOUCH_INTERVAL_SECONDS} seconds'",
                (token_id,),
            )

    async def last_used(self) -> dict[int, datetime]:
        """When each token that was ever used was last used (to the minute)."""
        async with self.pool.connection() as conn, conn.cursor() as cursor:
            await cursor.execute("SELECT token_id, last_used_at FROM token_usage")
            return {int(row["token_id"]): row["last_used_at"] for row in await cursor.fetchall()}
