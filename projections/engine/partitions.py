"""The first stretch of a rebuild on every core: one process per share of the aggregates.

A runner is one Python thread, and decoding and folding events is CPU work that holds the
interpreter lock, so one runner uses one core. A read model whose state is per aggregate
(an entry's row, an entry's rollup contribution added to sums) can be built by several
processes at once: process k of n applies, in log order, the events of the aggregates whose
id falls in share k (the last byte of the UUID, modulo n), each batch with its own tracking
row or key, into the same new generation. When all of them reach the target position, the
generation holds exactly the events up to it, and the rebuild goes on as usual from there:
one runner catches up with what was written meanwhile and switches.

Read models that need the whole log in order (the time-travel clock, accounts) say
`partitionable = False` and are built by one runner.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from eventsourcing.utils import resolve_topic

from timetracker.projections.engine.log_reader import LogReader, ReadAhead, Share, SharedLog
from timetracker.projections.engine.redis_runner import RedisProjectionRunner
from timetracker.projections.engine.runner import REBUILD_BATCH_SIZE, LogFollower, ProjectionRunner
from timetracker.projections.redis_keys import tracking_key
from timetracker.projections.registry import all_projections, redis_projections

PARTITION_MIN_EVENTS = 200_000  # below this, starting processes costs more than it saves
PARTITION_MIN_EVENTS_ENV = "REBUILD_PARTITION_MIN_EVENTS"
PROGRESS_SECONDS = 0.5
OPEN_ATTEMPTS = 5


@dataclass(frozen=True)
class Target:
    """Where a partitioned build goes: a PostgreSQL schema or a Redis generation."""

    name: str  # the projection's name in the registry
    store_topic: str  # the event store's class (`eventsourcing` topic), opened with `env`
    env: Mapping[str, str]  # the event store's settings
    conninfo: str
    schema: str | None = None  # PostgreSQL: the schema the share's tracking rows point at
    redis_url: str | None = None
    prefix: str = ""
    generation: int | None = None


def partition_count(events: int) -> int:
    """How many processes to build with: one per core, or 1 for a log shorter than
    `REBUILD_PARTITION_MIN_EVENTS` (default 200,000)."""
    minimum = int(os.environ.get(PARTITION_MIN_EVENTS_ENV) or PARTITION_MIN_EVENTS)
    return 1 if events < minimum else max(1, os.cpu_count() or 1)


def share_tracking_name(tracking_name: str, share: Share) -> str:
    """The tracking row of one share of a PostgreSQL build (or, given a Redis generation's
    position key, its share's key: `redis_runner.py`)."""
    return f"{tracking_name}:{share.label}"


def hand_over_redis_shares(
    client: Any, prefix: str, name: str, generation: int, position: int, count: int
) -> None:
    """After a partitioned build of a Redis generation: its own position key takes
    `position`, and the shares' keys go."""
    position_key = tracking_key(prefix, name, generation)
    client.set(position_key, position)
    client.delete(*[share_tracking_name(position_key, Share(n, count)) for n in range(count)])


def build_shares(
    targets: Sequence[Target],
    tracking_name: str,
    stop_at: int,
    count: int,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Apply every event up to `stop_at` to each target with `count` processes; returns the
    position reached. Process k applies share k of every target, reading and decoding its
    share of the log once for all of them.

    Each share's tracking row (PostgreSQL) must be registered at 0 by the caller, under
    `share_tracking_name(tracking_name or the target's name, share)`.

    Raises if any process fails: the caller then drops (or empties) what was built.
    """
    context = multiprocessing.get_context("spawn")  # no fork of a threaded process
    counters = [context.Value("q", 0) for _ in range(count)]
    label = "+".join(target.name for target in targets)
    processes = [
        context.Process(
            target=_build_share,
            args=(list(targets), tracking_name, Share(index, count), stop_at, counters[index]),
            name=f"rebuild-{label}-{index}",
            daemon=True,
        )
        for index in range(count)
    ]
    for process in processes:
        process.start()
    try:
        while any(process.is_alive() for process in processes):
            if progress is not None:
                # Every share goes through the whole log: the slowest one is how far it is.
                progress(min(c.value for c in counters), stop_at)
            time.sleep(PROGRESS_SECONDS)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"Rebuild processes failed: {', '.join(failed)}")
    return stop_at


def _open_store(target: Target) -> Any:
    """The event store, opened in this process: the shares start together and may race to
    create its tables and functions; the losers try again."""
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return resolve_topic(target.store_topic)(dict(target.env))
        except Exception:
            if attempt == OPEN_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _share_runner(
    store: Any, target: Target, tracking_name: str, share: Share, reader: LogReader
) -> LogFollower:
    """The runner of one target's share, reading through `reader`."""
    if target.schema is not None:
        projection = next(p for p in all_projections() if p.name == target.name)
        name = share_tracking_name(tracking_name or target.name, share)
        return ProjectionRunner(store, projection, target.conninfo, name, reader=reader)
    assert target.redis_url is not None and target.generation is not None
    redis_projection = next(p for p in redis_projections() if p.name == target.name)
    return RedisProjectionRunner(
        store,
        redis_projection,
        target.redis_url,
        target.prefix,
        generation=target.generation,
        reader=reader,
        share_label=share.label,
    )


def _build_share(
    targets: list[Target],
    tracking_name: str,
    share: Share,
    stop_at: int,
    counter: Synchronized,  # type: ignore[type-arg]
) -> None:
    """In a process of its own: apply one share's events up to `stop_at` to every target."""
    store = _open_store(targets[0])
    reader: LogReader = ReadAhead(store, share) if len(targets) == 1 else SharedLog(store, share)
    runners = [_share_runner(store, t, tracking_name, share, reader) for t in targets]

    def advanced(position: int) -> None:
        counter.value = position

    for runner in runners:
        runner.batch_size = REBUILD_BATCH_SIZE
    try:
        if isinstance(reader, SharedLog):
            reader.apply_each(runners, stop_at, REBUILD_BATCH_SIZE, on_stretch=advanced)
        else:
            runners[0].on_advance = lambda _name, position: advanced(position)
            runners[0].catch_up(stop_at=stop_at)
    finally:
        for runner in runners:
            runner.close()
        reader.close()
        store.close()
