"""Loading a long timer stream with and without snapshots.

Creates a scratch database (dropped at the end), records one user's Timer stream of
`--events` events (default 10,000: starts and stops) through the event store, which
snapshots it every `--interval` events (default 100, the service's default), then loads
the timer `--loads` times from a store that uses the snapshots and from one that replays
every event, and prints the median and 95th percentile of each.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/snapshots.py

DATABASE_URL names a role that may create databases; nothing else in it is touched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from timetracker.commands.application import TimeTracking
from timetracker.domain.timer import Timer, timer_id
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings

SAVE_EVERY = 500


def _scratch(admin_url: str) -> tuple[str, str]:
    name = f"tt_bench_snapshots_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name
    return name, make_conninfo(**params)  # type: ignore[arg-type]


def _record(store: TimeTracking, events: int) -> None:
    """Starts and stops until the stream has `events` events, saved 500 at a time."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    timer = Timer.for_user(1, Stamp(at=start, user_id=1))
    while timer.version < events:  # the version counts the pending events too
        stamp = Stamp(at=start + timedelta(minutes=timer.version), user_id=1)
        if timer.running_entry_id is None:
            timer.start(timer.version, stamp)
        else:
            timer.stop(stamp)
        if len(timer.pending_events) >= SAVE_EVERY:
            store.save(timer)
    store.save(timer)


def _time_loads(store: TimeTracking, loads: int) -> list[float]:
    timings = []
    for _ in range(loads):
        began = time.perf_counter()
        timer = store.repository.get(timer_id(1))
        timings.append((time.perf_counter() - began) * 1000)
        assert timer.user_id == 1
    return timings


def _summary(label: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"{label:22} median {statistics.median(ordered):8.2f} ms   p95 {p95:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--interval", type=int, default=100)
    parser.add_argument("--loads", type=int, default=50)
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name, url = _scratch(admin_url)
    try:
        with_snapshots = TimeTracking(
            Settings(database_url=url, snapshot_interval=args.interval).event_store_env()
        )
        without = TimeTracking(Settings(database_url=url, snapshot_interval=0).event_store_env())
        began = time.perf_counter()
        _record(with_snapshots, args.events)
        stream = with_snapshots.repository.get(timer_id(1))
        print(
            f"Recorded a timer stream of {stream.version:,} events in"
            f" {time.perf_counter() - began:.1f} s (snapshots every {args.interval})"
        )
        fast = _time_loads(with_snapshots, args.loads)
        slow = _time_loads(without, args.loads)
        print(_summary("with snapshots", fast))
        print(_summary("without snapshots", slow))
        print(f"speed-up (median)      {statistics.median(slow) / statistics.median(fast):8.1f}x")
        with_snapshots.close()
        without.close()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
