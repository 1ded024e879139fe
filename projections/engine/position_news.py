"""News of the read models' positions as they move, heard by a serving process.

PostgreSQL read models: a trigger on `projection_tracking` NOTIFYs every change of a
position when it commits, whoever makes it (a runner's batch, a rebuild's switch, a
reset, a restore), and NOTIFYs arrive in commit order. So while this process LISTENs,
the last position heard for a read model is its position, no query needed: `postgres`
holds them, and is emptied whenever the listening connection is lost.

Redis read models: their live runner PUBLISHes each batch's position in the batch's own
MULTI/EXEC (`redis_runner.py`). That news only wakes waiting writes: a rebuild's switch or
a loss of Redis's data says nothing, so a reader still asks Redis for the position.

Every piece of news is passed to `on_news(name, position)`. When the listening connection
to PostgreSQL breaks after it was listening (a restart of the database, its connections
terminated), `on_lost()` is awaited before listening again: the process's pools can drop
their connections that broke with it before requests find them (see `http/app.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

import psycopg
from psycopg import sql
from redis.asyncio import Redis
from redis.exceptions import RedisError

from timetracker.projections.engine.outage import Outage
from timetracker.projections.engine.tracking import POSITIONS_CHANNEL
from timetracker.projections.redis_keys import positions_channel
from timetracker.projections.registry import REDIS_PROJECTION_NAMES

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0


def parse(payload: str) -> tuple[str, int] | None:
    """`name:position` as sent by the trigger and the Redis runners (None if malformed)."""
    name, _, position = payload.rpartition(":")
    return (name, int(position)) if name and position.isdigit() else None


class PositionNews:
    """Listens for position news on PostgreSQL and Redis until `stop`."""

    def __init__(
        self,
        conninfo: str,
        redis_url: str,
        prefix: str,
        on_news: Callable[[str, int], None],
        on_lost: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.redis_url = redis_url
        self.prefix = prefix
        self.on_news = on_news
        self.on_lost = on_lost
        # The PostgreSQL read models' positions, exact while `listening` (see the module).
        self.postgres: dict[str, int] = {}
        self.listening = False
        self.subscribed = False
        # Counts the listening connections made: a position read from the database may be
        # kept only if the connection that was listening when it was read still is.
        self.epoch = 0
        self._tasks: list[asyncio.Task[None]] = []
        # Reconnecting every second, each failure logged, flooded the log while a
        # dependency was down: once, then summaries, then once when it is back.
        self._postgres_outage = Outage(
            "Hearing read-model positions from PostgreSQL", log, first_delay=RECONNECT_SECONDS
        )
        self._redis_outage = Outage(
            "Hearing read-model positions from Redis", log, first_delay=RECONNECT_SECONDS
        )

    def start(self) -> None:
        """Start listening in the background (reconnecting while it fails)."""
        self._tasks = [
            asyncio.create_task(self._listen_postgres(), name="position-news-postgres"),
            asyncio.create_task(self._listen_redis(), name="position-news-redis"),
        ]

    async def stop(self) -> None:
        """Stop listening."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def hears(self, name: str) -> bool:
        """True while news of `name`'s position would reach this process."""
        return self.subscribed if name in REDIS_PROJECTION_NAMES else self.listening

    def keep(self, positions: Mapping[str, int], epoch: int) -> None:
        """Keep positions read from the database at `epoch` where none has been heard
        since (news is newer than any read that was in flight when it came)."""
        if self.listening and epoch == self.epoch:
            for name, position in positions.items():
                self.postgres.setdefault(name, position)

    def _heard(self, payload: str, postgres: bool) -> None:
        news = parse(payload)
        if news is None:
            return
        if postgres:
            self.postgres[news[0]] = news[1]
        self.on_news(*news)

    async def _listen_postgres(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(
                        sql.SQL("LISTEN {}").format(sql.Identifier(POSITIONS_CHANNEL))
                    )
                    self.epoch += 1
                    self.postgres.clear()
                    self.listening = True
                    self._postgres_outage.succeeded()
                    async for notify in conn.notifies():
                        self._heard(notify.payload, postgres=True)
                    raise OSError("the listening connection ended")
            except (psycopg.Error, OSError) as exc:
                delay = self._postgres_outage.failed(exc)
            finally:
                was_listening, self.listening = self.listening, False
                self.postgres.clear()
            if was_listening and self.on_lost is not None:
                await self._tell_lost(self.on_lost)
            await asyncio.sleep(delay)

    async def _tell_lost(self, on_lost: Callable[[], Awaitable[None]]) -> None:
        try:
            await on_lost()
        except Exception:  # best effort: listening again matters more
            log.warning("Could not act on the lost PostgreSQL connection", exc_info=True)

    async def _listen_redis(self) -> None:
        while True:
            # A connection of its own, without the read timeout: it waits for news.
            client = Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=None)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(positions_channel(self.prefix))
                    self.subscribed = True
                    self._redis_outage.succeeded()
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=None
                        )
                        if message is not None and message["type"] == "message":
                            self._heard(message["data"].decode(), postgres=False)
            except (RedisError, OSError) as exc:
                delay = self._redis_outage.failed(exc)
            finally:
                self.subscribed = False
                await client.aclose()
            await asyncio.sleep(delay)
