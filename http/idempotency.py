"""Stored first responses of POSTs sent with an `Idempotency-Key`, per user, for 24 hours.

Each claim of a key carries a token; the write's own transaction marks the key `applied`
only while it holds that token (`commands/key_claims.py`). The table is created with the
write side's (`commands/schema.py`). A claim whose request died
before writing anything (a crash) is taken over by a retry once it is `STALE_SECONDS` old.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

KEEP_HOURS = 24
# A claim without an answer this old is taken to be dead: longer than a request waits for
# the thread pool, the store and its read models. Taking over a live one is still safe:
# its write then fails (`ClaimLostError`) instead of running twice.
STALE_SECONDS = 30


@dataclass(frozen=True)
class StoredResponse:
    """A response kept for replay."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Claim:
    """What claiming a key found: ours to run (with our token), a finished response, a
    write applied whose answer was lost, or another request still running."""

    ours: bool
    request_hash: str
    response: StoredResponse | None = None
    token: UUID | None = None
    applied: bool = False


class IdempotencyStore:
    """Claims keys, stores first responses, and finds them again."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def claim(self, user_id: int, key: str, request_hash: str) -> Claim:
        """Claim a key for this request, or report who holds it (an expired key is freed,
        a stale claim of the same request taken over)."""
        token = uuid4()
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "DELETE FROM idempotency_keys WHERE user_id = %s AND key = %s"
                f" AND created_at < now() - interval '{KEEP_HOURS} hours'",
                (user_id, key),
            )
            await cur.execute(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, claim)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING key",
                (user_id, key, request_hash, token),
            )
            if await cur.fetchone() is not None:
                return Claim(ours=True, request_hash=request_hash, token=token)
            await cur.execute(
                "SELECT request_hash, status, headers, body, applied, claim,"
                f" created_at < now() - interval '{STALE_SECONDS} seconds' AS stale"
                " FROM idempotency_keys WHERE user_id = %s AND key = %s",
                (user_id, key),
            )
            row = await cur.fetchone()
            if (
                row is not None
                and row["stale"]
                and row["status"] is None
                and not row["applied"]
                and row["request_hash"] == request_hash
            ):
                await cur.execute(
                    "UPDATE idempotency_keys SET claim = %s, created_at = now()"
                    " WHERE user_id = %s AND key = %s AND claim IS NOT DISTINCT FROM %s"
                    " AND NOT applied AND status IS NULL RETURNING key",
                    (token, user_id, key, row["claim"]),
                )
                if await cur.fetchone() is not None:
                    return Claim(ours=True, request_hash=request_hash, token=token)
        if row is None:  # released between our insert and select: try again
            return await self.claim(user_id, key, request_hash)
        response = None
        if row["status"] is not None:
            headers = row["headers"] if isinstance(row["headers"], dict) else {}
            response = StoredResponse(row["status"], headers, bytes(row["body"] or b""))
        return Claim(
            ours=False,
            request_hash=row["request_hash"],
            response=response,
            applied=bool(row["applied"]),
        )

    async def wait_for_response(
        self, user_id: int, key: str, timeout: float
    ) -> StoredResponse | None:
        """Wait while another request with the key runs; its response, or None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            await asyncio.sleep(0.02)
            async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(
                    "SELECT status, headers, body FROM idempotency_keys"
                    " WHERE user_id = %s AND key = %s",
                    (user_id, key),
                )
                row = await cur.fetchone()
            if row is None:
                return None
            if row["status"] is not None:
                return StoredResponse(row["status"], row["headers"], bytes(row["body"] or b""))
        return None

    async def complete(
        self, user_id: int, key: str, token: UUID | None, response: StoredResponse
    ) -> None:
        """Keep the response of the request that holds the key (a request whose claim was
        taken over keeps nothing)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE idempotency_keys SET status = %s, headers = %s, body = %s"
                " WHERE user_id = %s AND key = %s AND claim IS NOT DISTINCT FROM %s",
                (response.status, json.dumps(response.headers), response.body, user_id, key, token),
            )

    async def release(self, user_id: int, key: str, token: UUID | None) -> None:
        """Give the key up (the request failed for reasons a retry may not meet), unless the
        request's write was applied after all: then a retry must not run it again."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM idempotency_keys WHERE user_id = %s AND key = %s"
                " AND claim IS NOT DISTINCT FROM %s AND NOT applied",
                (user_id, key, token),
            )
