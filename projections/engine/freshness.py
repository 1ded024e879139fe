"""How far each read model has got in the log, and waiting for it to reach a position."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from timetracker.projections.engine.position_news import PositionNews
from timetracker.projections.redis_keys import answered_key, generations_stem, live_key
from timetracker.projections.registry import REDIS_PROJECTION_NAMES
from timetracker.projections.script_pipeline import REDIS_WAIT_SECONDS, PipelinedScript

NEWS_WAIT_SECONDS = 0.2  # longest wait for news before reading positions again
MAX_POLL_SECONDS = 0.01


# One round trip for the highest answered write (KEYS[1]) and any number of Redis read
# models: each one's live generation (the other KEYS), then that generation's position (ARGV:
# each one's position key up to the generation number, `<prefix><name>:g`).
_REDIS_POSITIONS = """
local found = {redis.call('GET', KEYS[1]) or '0'}
for i = 2, #KEYS do
    local generation = redis.call('GET', KEYS[i])
    found[i] = generation and redis.call('GET', ARGV[i - 1] .. generation .. ':position') or '0'
end
return found
"""
# Raises the highest answered write to ARGV[1] (never lowers it).
_RAISE_ANSWERED = """
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], ARGV[1])
end
return 0
"""
ANSWERING_RETRY_SECONDS = 1.0  # after Redis failed to record an answered write
UNKNOWN_ANSWERED = 2**63 - 1  # above any position: positions are read from the database


@dataclass(eq=False)
class _Waiter:
    names: set[str]  # not yet heard of at `position`
    position: int
    woken: asyncio.Event = field(default_factory=asyncio.Event)


class Freshness:
    """Reads the positions of the PostgreSQL and the Redis read models, and hears of them
    moving: from the runners of this process, and (once `listen` is called) from any
    process through PostgreSQL and Redis (`position_news.py`)."""

    def __init__(self, pool: AsyncConnectionPool[Any], redis: Redis, prefix: str) -> None:
        self.pool = pool
        self.redis = redis
        self.prefix = prefix
        # Asked on every read of a Redis read model: pipelined on a connection of its own.
        self._redis_positions = PipelinedScript(redis, _REDIS_POSITIONS)
        self._raise_answered = PipelinedScript(redis, _RAISE_ANSWERED)
        self._answering_fails_until = 0.0
        self._waiters: set[_Waiter] = set()
        # The last position heard of for each read model: a committed batch's.
        self._heard: dict[str, int] = {}
        self.news: PositionNews | None = None
        # What the news last said of each read model, on the listening connection numbered
        # `_news_epoch`, and who keeps something per position of it (`on_rewritten`).
        self._news_said: dict[str, int] = {}
        self._news_epoch = 0
        self._rewritten: dict[str, list[Callable[[], None]]] = {}

    def listen(
        self,
        conninfo: str,
        redis_url: str,
        on_lost: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Hear positions from every process's runners from now on (see `stop_listening`);
        `on_lost` is awaited when the connection to PostgreSQL breaks (`position_news.py`)."""
        self.news = PositionNews(conninfo, redis_url, self.prefix, self._news_of_position, on_lost)
        self.news.start()

    def on_rewritten(self, name: str, forget: Callable[[], None]) -> None:
        """Call `forget` whenever read model `name` may have changed without its position
        moving forward, so that what was kept per position of it is forgotten: news of it
        at a position not above the last heard (a rebuild's switch, a reset, a restore),
        or the first news on a new listening connection (some may have been missed)."""
        self._rewritten.setdefault(name, []).append(forget)

    def _news_of_position(self, name: str, position: int) -> None:
        epoch = self.news.epoch if self.news is not None else 0
        if epoch != self._news_epoch:
            self._news_epoch = epoch
            self._news_said.clear()
            for callbacks in self._rewritten.values():
                for forget in callbacks:
                    forget()
        said = self._news_said.get(name)
        self._news_said[name] = position
        if said is not None and position <= said:
            for forget in self._rewritten.get(name, ()):
                forget()
        self._advanced(name, position)

    async def stop_listening(self) -> None:
        """Stop hearing positions from other processes."""
        if self.news is not None:
            await self.news.stop()
            self.news = None

    async def close(self) -> None:
        """Stop listening and close the Redis connection positions are read on."""
        await self.stop_listening()
        await self._redis_positions.close()
        await self._raise_answered.close()

    def advance_notifier(self, loop: asyncio.AbstractEventLoop) -> Callable[[str, int], None]:
        """A callback for this process's runners (any thread): a read model has advanced."""

        def advanced(name: str, position: int) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(self._advanced_here, name, position)

        return advanced

    def _advanced_here(self, name: str, position: int) -> None:
        # While the news is heard, a PostgreSQL read model's position is what the news
        # says (`positions` answers from it): a batch's NOTIFY comes a moment after the
        # runner's word, and a wait must not end on a position `positions` does not show.
        if self.news is None or not self.news.listening or name in REDIS_PROJECTION_NAMES:
            self._advanced(name, position)

    def _hears(self, name: str) -> bool:
        return name in self._heard or (self.news is not None and self.news.hears(name))

    def _advanced(self, name: str, position: int) -> None:
        self._heard[name] = position
        for waiter in self._waiters:
            if name in waiter.names and position >= waiter.position:
                waiter.names.discard(name)
                if not waiter.names:
                    waiter.woken.set()

    async def positions(
        self, names: Iterable[str] | None = None, heard: bool = True
    ) -> dict[str, int]:
        """The position of each named read model (all of them when `names` is None).

        With `heard`, PostgreSQL read models' positions come from the news while this
        process hears it (`position_news.py`: exact, without a query).
        """
        wanted = None if names is None else set(names)
        result: dict[str, int] = {}
        if wanted is None or wanted - REDIS_PROJECTION_NAMES:
            result.update(await self.postgres_positions(wanted, heard=heard))
        if wanted is None or wanted & REDIS_PROJECTION_NAMES:
            result.update(await self.redis_positions(wanted))
        return result

    async def postgres_positions(
        self, wanted: set[str] | None = None, heard: bool = False
    ) -> dict[str, int]:
        """Positions of the PostgreSQL read models (all, or those in `wanted`); with
        `heard`, as heard while this process listens (a query otherwise)."""
        news = self.news
        if wanted is not None:
            wanted = wanted - REDIS_PROJECTION_NAMES
        if heard and wanted is not None and news is not None and news.listening:
            known = news.postgres
            if all(name in known for name in wanted):
                return {name: known[name] for name in wanted}
        epoch = news.epoch if news is not None else 0
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute("SELECT name, position FROM projection_tracking")
            rows = await cur.fetchall()
        found = {str(n): int(p) for n, p in rows}
        if news is not None:
            news.keep(found, epoch)
        return {n: p for n, p in found.items() if wanted is None or n in wanted}

    async def redis_positions(self, wanted: set[str] | None = None) -> dict[str, int]:
        """Positions of the live Redis read models (0 while none is live)."""
        names = sorted(REDIS_PROJECTION_NAMES & (wanted or REDIS_PROJECTION_NAMES))
        return (await self._read_redis(names))[1] if names else {}

    async def _read_redis(self, names: Sequence[str]) -> tuple[int, dict[str, int]]:
        """The highest answered write, and the positions of the named Redis read models."""
        try:
            values = await self._redis_positions.run(
                [answered_key(self.prefix), *(live_key(self.prefix, name) for name in names)],
                [generations_stem(self.prefix, name) for name in names],
                REDIS_WAIT_SECONDS,
            )
        except TimeoutError:
            raise RedisTimeoutError("Redis did not answer in time") from None
        answered, *positions = (int(value or 0) for value in values)
        return answered, dict(zip(names, positions, strict=True))

    async def covering(self, names: Iterable[str]) -> dict[str, int]:
        """The named read models' positions, never behind a write any process has answered.

        What keeps answers per position (`kept_pages.py`, the reports) asks this: news may
        reach this process a moment after another process answered a write, and the
        write's client must see it in its next read (read-your-writes). PostgreSQL read
        models' positions are as heard (no query) when they are at least the highest
        answered write (`answering`), otherwise read from the database, as they are while
        Redis cannot say (a Redis read model among `names` then raises RedisError).
        """
        wanted = set(names)
        redis_names = sorted(wanted & REDIS_PROJECTION_NAMES)
        try:
            answered, result = await self._read_redis(redis_names)
        except RedisError:
            if redis_names:
                raise
            answered, result = UNKNOWN_ANSWERED, {}
        postgres = wanted - REDIS_PROJECTION_NAMES
        if postgres:
            found = await self.postgres_positions(postgres, heard=True)
            if min(found.values(), default=0) < answered:
                found = await self.postgres_positions(postgres)
            result.update(found)
        return result

    async def answering(self, position: int) -> None:
        """Record, before a write at `position` is answered, that it has been (`covering`).

        Best effort: while Redis cannot record it (tried again after a second), readers
        that cannot reach Redis either read positions from the database instead.
        """
        if time.monotonic() < self._answering_fails_until:
            return
        try:
            await self._raise_answered.run(
                [answered_key(self.prefix)], [position], REDIS_WAIT_SECONDS
            )
        except (RedisError, OSError, TimeoutError):
            self._answering_fails_until = time.monotonic() + ANSWERING_RETRY_SECONDS

    async def head(self) -> int:
        """The position of the last event in the store."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute("SELECT max(notification_id) FROM timetracking_events")
            row = await cur.fetchone()
        return int(row[0] or 0) if row else 0

    async def wait_for(self, names: Sequence[str], position: int, timeout: float) -> bool:
        """Wait until every named read model has applied `position`; False on timeout.

        Looks at the positions once (PostgreSQL's as heard, when they are); while some are
        short, waits for news that they have got there: from a runner of this process, or
        through PostgreSQL and Redis from any (`listen`). News that a batch with the
        position has committed is enough, no second read; at most `NEWS_WAIT_SECONDS`
        pass without looking again, in case a Redis message is lost. Without news of a read
        model it polls: the first check after a millisecond (an event reaches a read model
        about 1.5 ms after commit), then the interval doubles up to 10 ms.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.001
        # News of a batch committed at or past the position is enough (no read).
        pending = [name for name in names if self._heard.get(name, 0) < position]
        while pending:
            # PostgreSQL's positions as heard while listening (exact: see position_news.py)
            reached = await self.positions(pending)
            for name in pending:
                # News above what the store shows is older than a reset (a restore):
                # never let it stand in for the store.
                if reached.get(name, 0) < self._heard.get(name, 0):
                    self._heard[name] = reached.get(name, 0)
            pending = [n for n in pending if reached.get(n, 0) < position]
            if not pending:
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            if all(self._hears(name) for name in pending):
                pending = await self._news_of(pending, position, min(left, NEWS_WAIT_SECONDS))
                if not pending:
                    return True
            else:
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, MAX_POLL_SECONDS)
        return True

    async def _news_of(self, names: list[str], position: int, timeout: float) -> list[str]:
        """Wait until `names` are heard of at `position`, or `timeout`; returns those not
        heard of."""
        waiter = _Waiter({n for n in names if self._heard.get(n, 0) < position}, position)
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
