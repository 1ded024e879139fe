"""Every read model replayed from scratch, for when the event log was replaced (a restore).

A zero-downtime `rebuild` switches to a new build only once it has caught up with the
live one; after a restore the live builds hold another history (and may be further along
than the new log), so they are emptied first instead:

- PostgreSQL: `reset` empties the live tables and moves their positions to 0 in one
  transaction; runners on the live tracking rows then replay the log.
- Redis: the live pointer and every build's keys are deleted; runners following the live
  pointer replay the log into a build and publish it.

The log is read and decoded once for all read models: each stretch of it (5,000 events)
is held in memory while the runners apply it, each at its own pace in a thread of its own
(`log_reader.py::SharedLog`). A runner of the same read model in a
running server may work alongside: each batch is applied by whoever holds its tracking
position first, never twice. Builds such a server started meanwhile are dropped at the end.

On a machine of three cores or more, a log long enough for a partitioned rebuild
(`partitions.py`) is replayed on every core: while this process replays the read models
that need the whole log in order, one process per share of the aggregates applies its
share to every partitionable read model (each share's events read and decoded once for all
of them). `reset` moves those read models'
tracking rows straight to the head, so no other runner applies what the shares apply;
their Redis builds get a number of their own, published once complete.

Run it while nothing serves these read models (maintenance mode): readers would see them
empty or missing until the replay ends. At the end, every server process is told to forget
the token lookups it cached, as after a revocation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from eventsourcing.application import Application
from eventsourcing.utils import get_topic
from psycopg import sql

from timetracker.projections.accounts import TOKENS_CHANNEL, Revocations
from timetracker.projections.base import Projection
from timetracker.projections.engine import tracking
from timetracker.projections.engine.log_reader import Share, SharedLog
from timetracker.projections.engine.partitions import (
    PROGRESS_SECONDS,
    Target,
    build_shares,
    hand_over_redis_shares,
    partition_count,
    share_tracking_name,
)
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
from timetracker.projections.redis_keys import answered_key, live_key, tracking_key
from timetracker.projections.registry import all_projections, redis_projections

PhaseProgress = Callable[[str, int, int], None]  # (phase, done, total)
PHASE = "read models"


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


# On two cores this process and its database sessions already keep both busy: measured on a
# million events (`bench/replay.py`), processes for the shares gained nothing (121.5 s against
# 122.9, 127.1 against 127.8) or lost (130.0 against 118.4, 166.8 against 137.7). From three
# cores they have one to themselves.
REPLAY_MIN_CORES = 3


def replay_shares(events: int) -> int:
    """How many processes replay the partitionable read models: as a rebuild would
    (`partition_count`), with at least `REPLAY_MIN_CORES` cores; otherwise 1 (this one)."""
    if (os.cpu_count() or 1) < REPLAY_MIN_CORES:
        return 1
    return partition_count(events)


@dataclass(frozen=True)
class _Shares:
    """Where and how far a partitioned replay goes."""

    store: Application[Any]
    conninfo: str
    redis_url: str | None
    prefix: str
    count: int
    head: int


def _replay_in_shares(
    shares: _Shares,
    projections: list[Projection],
    redis_builds: dict[str, int],
    progress: Callable[[int, int], None],
) -> None:
    """Apply the log up to `shares.head` to the partitionable read models with a process per
    share of the aggregates, all of them in each (see `partitions.py`): the PostgreSQL ones
    into their live tables (`reset` moved their tracking rows to the head), the Redis ones
    into the builds named in `redis_builds` (name -> generation)."""
    if not projections and not redis_builds:
        return  # too few cores or events: nothing is replayed in shares
    topic, env = get_topic(type(shares.store)), dict(shares.store.env)
    parts = [Share(n, shares.count) for n in range(shares.count)]
    share_rows = [share_tracking_name(p.name, part) for p in projections for part in parts]
    targets: list[Target] = []
    with psycopg.connect(shares.conninfo) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute("DELETE FROM projection_tracking WHERE name = ANY(%s)", (share_rows,))
        for projection in projections:
            row = tracking.read_row(cursor, projection.name)
            assert row is not None and row[1] is not None
            targets.append(Target(projection.name, topic, env, shares.conninfo, row[1]))
            for part in parts:
                tracking.register(cursor, share_tracking_name(projection.name, part), row[1])
    for name, generation in redis_builds.items():
        targets.append(
            Target(name, topic, env, "", None, shares.redis_url, shares.prefix, generation)
        )
    try:
        build_shares(targets, "", shares.head, shares.count, progress)
    finally:
        with psycopg.connect(shares.conninfo, autocommit=True) as conn:
            conn.execute("DELETE FROM projection_tracking WHERE name = ANY(%s)", (share_rows,))


def _finished(work: Future[None]) -> bool:
    """Whether `work` has ended (its error raised), after waiting for it a moment."""
    try:
        work.result(timeout=PROGRESS_SECONDS)
    except TimeoutError:
        return False
    return True


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
    log = SharedLog(store)
    head = log.head()
    shares = replay_shares(head)
    split = [p for p in projections if p.partitionable] if shares > 1 else []
    reset(conninfo, projections, claimed={p.name: head for p in split})
    client = None if redis_url is None else redis.Redis.from_url(redis_url)
    runners: list[LogFollower] = [
        ProjectionRunner(store, p, conninfo, reader=log) for p in projections if p not in split
    ]
    redis_builds: dict[str, int] = {}  # the partitioned Redis builds: name -> generation
    try:
        if client is not None:
            assert redis_url is not None
            names = [projection.name for projection in redis_projections()]
            # The highest answered write belongs to the log replaced (`Freshness.covering`).
            client.delete(answered_key(prefix), *[live_key(prefix, name) for name in names])
            for keys in _builds(client, prefix, names).values():
                _drop(client, keys)
            for projection in redis_projections():
                if shares > 1 and projection.partitionable:
                    # A number of its own: no runner of a running server builds there.
                    counter = generation_counter_key(prefix, projection.name)
                    redis_builds[projection.name] = int(client.incr(counter))
                else:
                    runners.append(
                        RedisProjectionRunner(store, projection, redis_url, prefix, reader=log)
                    )
        for runner in runners:
            runner.batch_size = REBUILD_BATCH_SIZE
        done = {"log": 0, "shares": head if not split and not redis_builds else 0}

        def report(part: str, position: int) -> None:  # in this thread only
            done[part] = position
            if progress is not None:
                progress(PHASE, min(done.values()), head)

        with ThreadPoolExecutor(1, thread_name_prefix="replay-shares") as background:
            in_shares = background.submit(
                _replay_in_shares,
                _Shares(store, conninfo, redis_url, prefix, shares, head),
                split,
                redis_builds,
                lambda position, _total: done.update(shares=position),  # told from there
            )
            log.apply_each(runners, head, REBUILD_BATCH_SIZE, lambda p: report("log", p))
            while not _finished(in_shares):
                report("log", head)
        report("shares", head)
        runners += [ProjectionRunner(store, p, conninfo) for p in split]
        if client is not None:
            assert redis_url is not None
            for projection in redis_projections():
                generation = redis_builds.get(projection.name)
                if generation is None:
                    continue
                hand_over_redis_shares(client, prefix, projection.name, generation, head, shares)
                build = RedisProjectionRunner(
                    store, projection, redis_url, prefix, generation=generation
                )
                runners.append(build)
        for runner in runners:
            runner.catch_up()  # publishes a Redis build even when the log is empty
        if client is not None:
            for name, generation in redis_builds.items():
                client.set(live_key(prefix, name), generation)  # complete: published now
            for name in [projection.name for projection in redis_projections()]:
                _drop_other_builds(client, prefix, name)
        _forget_cached_tokens(conninfo)
        return {runner.name: runner.stored_position() for runner in runners}
    finally:
        for runner in runners:
            runner.close()
        if client is not None:
            client.close()
