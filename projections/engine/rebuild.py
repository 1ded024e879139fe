"""Rebuild a read model without downtime.

The new generation is built from position 0 beside the live one (PostgreSQL: a schema of
its own; Redis: a key prefix of its own) while the live one keeps serving. Once it has
caught up, one atomic step makes it live (PostgreSQL: a transaction that points the views
at it and hands its position to the live tracking row; Redis: MULTI/EXEC on the live
pointer, WATCHed), and the old generation is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from eventsourcing.application import Application
from eventsourcing.utils import get_topic
from psycopg import sql

from timetracker.projections.base import Projection, RedisProjection
from timetracker.projections.engine import tracking
from timetracker.projections.engine.log_reader import ReadAhead, Share
from timetracker.projections.engine.partitions import (
    Target,
    build_shares,
    hand_over_redis_shares,
    partition_count,
    share_tracking_name,
)
from timetracker.projections.engine.redis_runner import RedisProjectionRunner
from timetracker.projections.engine.runner import (
    REBUILD_BATCH_SIZE,
    ProjectionRunner,
    create_tables,
    generation_schema,
    point_views,
)
from timetracker.projections.redis_keys import generation_prefix, live_key, tracking_key

log = logging.getLogger(__name__)

SWITCH_ATTEMPTS = 50
VIEW_LOCK_TIMEOUT = "250ms"  # below PostgreSQL's deadlock_timeout (1 s): the switch yields
SWITCH_BACKOFF_SECONDS = 0.05
Progress = Callable[[int, int], None]  # (events done, events in the log)


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did."""

    name: str
    events: int
    seconds: float
    old_schema: str | None
    new_schema: str

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds else 0.0


def rebuild_name(name: str) -> str:
    """The tracking name of a rebuild in progress."""
    return f"{name}:rebuild"


def _next_generation(schema: str | None, name: str) -> int:
    match = re.fullmatch(rf"rm_{re.escape(name)}_g(\d+)", schema or "")
    return int(match.group(1)) + 1 if match else 1


def _prepare(conninfo: str, projection: Projection) -> tuple[str | None, str]:
    """Create the next generation's empty tables and its tracking row."""
    with psycopg.connect(conninfo) as conn, conn.transaction(), conn.cursor() as cursor:
        live = tracking.read_row(cursor, projection.name)
        old_schema = live[1] if live else None
        new_schema = generation_schema(
            projection.name, _next_generation(old_schema, projection.name)
        )
        cursor.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(new_schema))
        )
        create_tables(cursor, projection, new_schema)
        cursor.execute(
            "DELETE FROM projection_tracking WHERE name = %s OR name LIKE %s",
            (rebuild_name(projection.name), f"{rebuild_name(projection.name)}:%"),
        )
        tracking.register(cursor, rebuild_name(projection.name), new_schema)
    return old_schema, new_schema


def _switch(conninfo: str, projection: Projection, new_schema: str) -> bool:
    """Make the new generation live if it is not behind the live one; True if switched.

    The views are locked all at once, waiting at most `VIEW_LOCK_TIMEOUT`: a read that
    joins two of them could otherwise hold one while the switch holds the other, and
    PostgreSQL would end the deadlock by cancelling one of them, perhaps the read. Here
    the switch gives way first (and is tried again after catching up).
    """
    with psycopg.connect(conninfo) as conn:
        try:
            with conn.transaction(), conn.cursor() as cursor:
                # Locking the live row pauses the live runner between two batches.
                live_position, _ = tracking.lock_row(cursor, projection.name)
                built_position, _ = tracking.lock_row(cursor, rebuild_name(projection.name))
                if built_position < live_position:
                    return False
                cursor.execute(f"SET LOCAL lock_timeout = '{VIEW_LOCK_TIMEOUT}'")
                cursor.execute(
                    sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                        sql.SQL(", ").join(
                            sql.Identifier("public", table) for table in projection.tables
                        )
                    )
                )
                _point_and_hand_over(cursor, projection, new_schema, built_position)
        except psycopg.errors.LockNotAvailable:
            time.sleep(SWITCH_BACKOFF_SECONDS)
            return False
    return True


def _point_and_hand_over(
    cursor: psycopg.Cursor[Any], projection: Projection, new_schema: str, built_position: int
) -> None:
    """Point the views at the new generation and give it the live tracking row."""
    point_views(cursor, projection, new_schema)
    cursor.execute(
        "UPDATE projection_tracking SET position = %s, schema = %s, updated_at = now()"
        " WHERE name = %s",
        (built_position, new_schema, projection.name),
    )
    cursor.execute(
        "DELETE FROM projection_tracking WHERE name = %s", (rebuild_name(projection.name),)
    )


def rebuild(
    store: Application[Any],
    projection: Projection,
    conninfo: str,
    progress: Progress | None = None,
) -> Rebuilt:
    """Build a new generation of the read model from the whole log and switch to it."""
    started = time.monotonic()
    old_schema, new_schema = _prepare(conninfo, projection)
    reader = ReadAhead(store)
    runner = ProjectionRunner(
        store, projection, conninfo, tracking_name=rebuild_name(projection.name), reader=reader
    )
    runner.batch_size = REBUILD_BATCH_SIZE
    done = 0
    try:
        head = reader.head()
        shares = partition_count(head) if projection.partitionable else 1
        if shares > 1:
            done += _build_in_shares(
                store, projection, conninfo, new_schema, head, shares, progress
            )
        for _ in range(SWITCH_ATTEMPTS):
            head = reader.head()
            while runner.position < head:
                done += runner.catch_up(stop_at=min(head, runner.position + 4 * REBUILD_BATCH_SIZE))
                if progress is not None:
                    progress(runner.position, head)
            if _switch(conninfo, projection, new_schema):
                break
        else:
            raise RuntimeError(
                f"Rebuild of {projection.name} could not catch up with the live copy"
            )
    finally:
        runner.close()
        reader.close()
    if old_schema is not None and old_schema != new_schema:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(old_schema))
            )
    rebuilt = Rebuilt(projection.name, done, time.monotonic() - started, old_schema, new_schema)
    log.info("Rebuilt %s: %d events in %.1f s", projection.name, done, rebuilt.seconds)
    return rebuilt


def _build_in_shares(
    store: Application[Any],
    projection: Projection,
    conninfo: str,
    schema: str,
    head: int,
    shares: int,
    progress: Progress | None,
) -> int:
    """Build the new generation up to `head` with a process per share of the aggregates
    (see `partitions.py`), then hand the position over to the rebuild's own row."""
    tracking_name = rebuild_name(projection.name)
    names = [share_tracking_name(tracking_name, Share(n, shares)) for n in range(shares)]
    with psycopg.connect(conninfo) as conn, conn.transaction(), conn.cursor() as cursor:
        for name in names:
            tracking.register(cursor, name, schema)
    target = Target(projection.name, get_topic(type(store)), dict(store.env), conninfo, schema)
    try:
        build_shares([target], tracking_name, head, shares, progress)
        with psycopg.connect(conninfo) as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.execute(
                "UPDATE projection_tracking SET position = %s, updated_at = now() WHERE name = %s",
                (head, tracking_name),
            )
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("DELETE FROM projection_tracking WHERE name = ANY(%s)", (names,))
    return head


def reset(
    conninfo: str, projections: list[Projection], claimed: Mapping[str, int] | None = None
) -> None:
    """Empty the live read models and move their tracking back to 0, in one transaction.

    The in-place alternative to `rebuild`: readers see empty tables until the runners
    have replayed the log, so use it only while nothing serves from them. The read models
    named in `claimed` are moved to the position given instead: what comes before it is
    being applied by other means (a partitioned replay's processes), not by their runners.
    """
    with psycopg.connect(conninfo) as conn, conn.transaction(), conn.cursor() as cursor:
        names = [projection.name for projection in projections]
        rows = tracking.lock_rows(cursor, names)  # as the live runner locks them: no deadlock
        for projection in projections:
            if projection.name not in rows:
                raise LookupError(f"Projection {projection.name} is not registered.")
            schema = rows[projection.name][1]
            assert schema is not None, f"{projection.name} has no tables yet"
            cursor.execute(
                sql.SQL("TRUNCATE {}").format(
                    sql.SQL(", ").join(sql.Identifier(schema, table) for table in projection.tables)
                )
            )
        tracking.move_positions(cursor, names, 0)
        for name, position in (claimed or {}).items():
            tracking.move_position(cursor, name, position)


def generation_counter_key(prefix: str, name: str) -> str:
    """The counter that numbers the builds of a Redis read model."""
    return f"{prefix}generations:{name}"


def _redis_generation_for_rebuild(
    client: redis.Redis, prefix: str, name: str
) -> tuple[int | None, int]:
    live = client.get(live_key(prefix, name))
    live_generation = None if live is None else int(live)
    counter = generation_counter_key(prefix, name)
    while True:
        generation = int(client.incr(counter))
        if generation != live_generation and generation > (live_generation or 0):
            return live_generation, generation


def _switch_redis(client: redis.Redis, prefix: str, name: str, generation: int) -> bool:
    """Point readers at `generation` if it is not behind the live one; True if switched."""
    pointer = live_key(prefix, name)
    with client.pipeline() as pipe:
        try:
            pipe.watch(pointer)  # type: ignore[no-untyped-call]
            live = pipe.get(pointer)
            if live is not None:
                live_key_position = tracking_key(prefix, name, int(live))
                pipe.watch(live_key_position)  # type: ignore[no-untyped-call]
                live_position = int(pipe.get(live_key_position) or 0)
            else:
                live_position = 0
            built = int(pipe.get(tracking_key(prefix, name, generation)) or 0)
            if built < live_position:
                return False
            pipe.multi()
            pipe.set(pointer, generation)
            pipe.execute()
        except redis.WatchError:
            return False
    return True


def drop_redis_generation(client: redis.Redis, prefix: str, name: str, generation: int) -> int:
    """Delete every key of one generation; returns how many.

    UNLINK, not DEL: Redis frees the values in a background thread, so a million keys do
    not hold its main thread (and every reader) for seconds.
    """
    deleted = 0
    batch: list[Any] = []
    for key in client.scan_iter(
        match=f"{generation_prefix(prefix, name, generation)}*", count=10_000
    ):
        batch.append(key)
        if len(batch) >= 5000:
            deleted += int(client.unlink(*batch))
            batch = []
    if batch:
        deleted += int(client.unlink(*batch))
    return deleted


def _build_redis_in_shares(
    store: Application[Any],
    projection: RedisProjection,
    client: redis.Redis,
    redis_url: str,
    prefix: str,
    generation: int,
    head: int,
    shares: int,
    progress: Progress | None,
) -> int:
    """Build the new generation up to `head` with a process per share of the aggregates
    (see `partitions.py`), then hand the position over to the generation's own key."""
    target = Target(
        projection.name,
        get_topic(type(store)),
        dict(store.env),
        "",
        redis_url=redis_url,
        prefix=prefix,
        generation=generation,
    )
    build_shares([target], rebuild_name(projection.name), head, shares, progress)
    hand_over_redis_shares(client, prefix, projection.name, generation, head, shares)
    return head


def rebuild_redis(
    store: Application[Any],
    projection: RedisProjection,
    redis_url: str,
    prefix: str,
    progress: Progress | None = None,
) -> Rebuilt:
    """Build a new generation of a Redis read model from the whole log and switch to it."""
    started = time.monotonic()
    client = redis.Redis.from_url(redis_url)
    old, new = _redis_generation_for_rebuild(client, prefix, projection.name)
    drop_redis_generation(client, prefix, projection.name, new)
    reader = ReadAhead(store)
    runner = RedisProjectionRunner(
        store, projection, redis_url, prefix, generation=new, reader=reader
    )
    runner.batch_size = REBUILD_BATCH_SIZE
    done = 0
    try:
        head = reader.head()
        shares = partition_count(head) if projection.partitionable else 1
        if shares > 1:
            done += _build_redis_in_shares(
                store, projection, client, redis_url, prefix, new, head, shares, progress
            )
        for _ in range(SWITCH_ATTEMPTS):
            head = reader.head()
            while runner.position < head:
                done += runner.catch_up(stop_at=min(head, runner.position + 4 * REBUILD_BATCH_SIZE))
                if progress is not None:
                    progress(runner.position, head)
            if _switch_redis(client, prefix, projection.name, new):
                break
        else:
            raise RuntimeError(
                f"Rebuild of {projection.name} could not catch up with the live copy"
            )
    except BaseException:
        # A build that will never be live: its keys go now, not never.
        with contextlib.suppress(redis.RedisError):
            drop_redis_generation(client, prefix, projection.name, new)
        raise
    finally:
        runner.close()
        reader.close()
    if old is not None:
        drop_redis_generation(client, prefix, projection.name, old)
    client.close()
    old_name = None if old is None else generation_prefix(prefix, projection.name, old)
    rebuilt = Rebuilt(
        projection.name,
        done,
        time.monotonic() - started,
        old_name,
        generation_prefix(prefix, projection.name, new),
    )
    log.info("Rebuilt %s: %d events in %.1f s", projection.name, done, rebuilt.seconds)
    return rebuilt
