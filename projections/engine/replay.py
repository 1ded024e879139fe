"""Every read model replayed from scratch, for when the event log was replaced (a restore).

A zero-downtime `rebuild` switches to a new build only once it has caught up with the
live one; after a restore the live builds hold another history (and may be further along
than the new log), so they are emptied first instead:

- PostgreSQL: `reset` empties the live tables and moves their positions to 0 in one
  transaction; runners on the live tracking rows then replay the log.
- Redis: the live pointer and every build's keys are deleted; runners following the live
  pointer replay the log into a build and publish it.

The log is read and decoded once for all read models: each stretch of it (5,000 events)
is held in memory while every runner applies it. A runner of the same read model in a
running server may work alongside: each batch is applied by whoever holds its tracking
position first, never twice. Builds such a server started meanwhile are dropped at the end.

Run it while nothing serves these read models (maintenance mode): readers would see them
empty or missing until the replay ends. At the end, every server process is told to forget
the token lookups it cached, as after a revocation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import redis
from eventsourcing.application import Application
from psycopg import sql

from timetracker.projections.accounts import TOKENS_CHANNEL, Revocations
from timetracker.projections.engine.log_reader import LogReader, Stretch
from timetracker.projections.engine.rebuild import (
    drop_redis_generation,
    generation_counter_key,
    reset,
)
from timetracker.projections.engine.redis_runner import RedisProjectionRunner
from timetracker.projections.engine.runner import (
    REBUILD_BATCH_SIZE,
    LogFollower,
    ProjectionRunner,
    create_schema,
)
from timetracker.projections.redis_keys import live_key, tracking_key
from timetracker.projections.registry import all_projections, redis_projections

PhaseProgress = Callable[[str, int, int], None]  # (phase, done, total)
PHASE = "read models"


class SharedLog(LogReader):
    """Serves one stretch of the log, read and decoded once, to every runner (and anything
    outside it from the store itself)."""

    def __init__(self, store: Application[Any]) -> None:
        super().__init__(store)
        self._held = Stretch(0, [], [])

    def hold(self, stretch: Stretch) -> None:
        """Serve `stretch` from memory from now on."""
        self._held = stretch

    def read(self, after: int, limit: int, stop: int | None = None) -> Stretch:
        held = self._held
        if held.after <= after < held.last:
            return held.part(after, limit, stop)
        return super().read(after, limit, stop)

    def fetch(self, after: int, limit: int) -> Stretch:
        """The next stretch from the store (to be held next), whatever is held now."""
        return super().read(after, limit)


def _builds(client: redis.Redis, prefix: str, names: list[str]) -> dict[tuple[str, int], list[Any]]:
    """The keys of every build of the named Redis read models, by (name, generation).

    One SCAN of the keyspace for all of them (a SCAN walks every key, whatever it matches).
    """
    pattern = re.compile(
        rf"^{re.escape(prefix)}({'|'.join(re.escape(n) for n in names)}):g(\d+):".encode()
    )
    found: dict[tuple[str, int], list[Any]] = {}
    for key in client.scan_iter(match=f"{prefix}*", count=5000):
        match = pattern.match(key)
        if match:
            found.setdefault((match.group(1).decode(), int(match.group(2))), []).append(key)
    return found


def _drop(client: redis.Redis, keys: list[Any]) -> None:
    for start in range(0, len(keys), 1000):
        client.unlink(*keys[start : start + 1000])


def _drop_other_builds(client: redis.Redis, prefix: str, name: str) -> None:
    """Drop builds a running server may have started during the replay (all but the live one).

    Every build with data has a position key, and its number was counted out (or is the
    first): look those up instead of scanning a keyspace that now holds the whole replay.
    """
    live = int(client.get(live_key(prefix, name)) or 0)
    last = max(live, int(client.get(generation_counter_key(prefix, name)) or 0), 1)
    for generation in range(1, last + 1):
        if generation != live and client.exists(tracking_key(prefix, name, generation)):
            drop_redis_generation(client, prefix, name, generation)


def _forget_cached_tokens(conninfo: str) -> None:
    """Empty every process's cache of token lookups: they describe the replaced accounts."""
    Revocations.bump()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("NOTIFY {}").format(sql.Identifier(TOKENS_CHANNEL)))


def replay_all(
    store: Application[Any],
    conninfo: str,
    redis_url: str | None,
    prefix: str,
    progress: PhaseProgress | None = None,
) -> dict[str, int]:
    """Empty and replay every read model; the log position each one has reached."""
    projections = all_projections()
    create_schema(conninfo, projections)
    reset(conninfo, projections)
    log = SharedLog(store)
    runners: list[LogFollower] = [
        ProjectionRunner(store, p, conninfo, reader=log) for p in projections
    ]
    client = None if redis_url is None else redis.Redis.from_url(redis_url)
    try:
        if client is not None:
            assert redis_url is not None
            names = [projection.name for projection in redis_projections()]
            client.delete(*[live_key(prefix, name) for name in names])
            for keys in _builds(client, prefix, names).values():
                _drop(client, keys)
            runners += [
                RedisProjectionRunner(store, projection, redis_url, prefix, reader=log)
                for projection in redis_projections()
            ]
        head = log.head()
        position = 0
        for runner in runners:
            runner.batch_size = REBUILD_BATCH_SIZE
        # A thread per read model, and one reading ahead: while some wait for a database,
        # others work.
        with ThreadPoolExecutor(len(runners) + 1, thread_name_prefix="replay") as threads:
            ahead = threads.submit(log.fetch, 0, REBUILD_BATCH_SIZE)
            while position < head:
                stretch = ahead.result()
                log.hold(stretch)
                position = stretch.last
                if position < head:
                    ahead = threads.submit(log.fetch, position, REBUILD_BATCH_SIZE)
                for done in [threads.submit(r.catch_up, position) for r in runners]:
                    done.result()
                if progress is not None:
                    progress(PHASE, position, head)
        for runner in runners:
            runner.catch_up()  # publishes a Redis build even when the log is empty
        if client is not None:
            for name in [projection.name for projection in redis_projections()]:
                _drop_other_builds(client, prefix, name)
        _forget_cached_tokens(conninfo)
        return {runner.name: runner.stored_position() for runner in runners}
    finally:
        for runner in runners:
            runner.close()
        if client is not None:
            client.close()
