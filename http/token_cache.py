"""A short-lived cache of token lookups (hash → caller), so most requests skip that query.

A revoked token is refused from the first request after the accounts read model records the
revocation, in every server process:

- the accounts projection sends a NOTIFY (`TOKENS_CHANNEL`) in the transaction that records
  a revocation, whichever process applies it (the server's own runner, another worker's,
  or the CLI's `tokens revoke`); each process LISTENs and empties its cache when one
  arrives;
- where the accounts runner runs in this process, it also bumps `Revocations` as it applies
  the event, which invalidates every entry at once, before the NOTIFY comes back;
- while the listening connection is down (PostgreSQL restarting), the cache is not used,
  and it starts empty when the connection is back, so no NOTIFY can have been missed.

Expiry is checked on every hit. An entry lives at most `TTL_SECONDS` (5 s) in any case: the
documented bound on how long a cached answer may be older than the read model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from aiohttp import web
from psycopg import sql

from timetracker.http.caller import Caller
from timetracker.http.keys import settings_key
from timetracker.projections.accounts import TOKENS_CHANNEL, Revocations

log = logging.getLogger(__name__)

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000
RECONNECT_SECONDS = 1.0


@dataclass(frozen=True)
class _Entry:
    caller: Caller
    expires_at: datetime | None
    stored_at: float
    generation: tuple[int, int]


class TokenCache:
    """Callers by token hash, valid until a revocation, their expiry, or the TTL."""

    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self.listening = False
        self._entries: dict[str, _Entry] = {}
        self._notified = 0

    def generation(self) -> tuple[int, int]:
        """Changes with every revocation seen; take it before looking a token up."""
        return (Revocations.generation, self._notified)

    def get(self, token_hash: str) -> Caller | None:
        """The cached caller of this token, if still valid."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if (
            not self.listening
            or entry.generation != self.generation()
            or time.monotonic() - entry.stored_at > self.ttl
            or (entry.expires_at is not None and entry.expires_at <= datetime.now(UTC))
        ):
            self._entries.pop(token_hash, None)
            return None
        return entry.caller

    def put(
        self,
        token_hash: str,
        caller: Caller,
        expires_at: datetime | None,
        generation: tuple[int, int],
    ) -> None:
        """Remember a lookup made at `generation` (dropped if a revocation came since)."""
        if not self.listening or generation != self.generation():
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[token_hash] = _Entry(caller, expires_at, time.monotonic(), generation)

    def invalidate(self) -> None:
        """Forget every entry (a revocation happened somewhere)."""
        self._notified += 1
        self._entries.clear()

    async def listen(self, conninfo: str) -> None:
        """Follow the revocation channel until cancelled; reconnect when the link drops."""
        channel = sql.SQL("LISTEN {}").format(sql.Identifier(TOKENS_CHANNEL))
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True, connect_timeout=5
                )
                async with conn:
                    await conn.execute(channel)
                    self.invalidate()  # nothing cached before now can be trusted
                    self.listening = True
                    async for _ in conn.notifies():
                        self.invalidate()
            except psycopg.Error as exc:
                if self.listening:
                    log.warning("Token cache off: lost the revocation listener (%s)", exc)
            finally:
                self.listening = False
                self.invalidate()
            await asyncio.sleep(RECONNECT_SECONDS)


token_cache_key = web.AppKey("token_cache_key", TokenCache)


async def token_cache_ctx(app: web.Application) -> AsyncIterator[None]:
    """The app's token cache and its listener task."""
    cache = TokenCache()
    app[token_cache_key] = cache
    task = asyncio.create_task(cache.listen(app[settings_key].conninfo))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
