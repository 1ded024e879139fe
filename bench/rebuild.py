"""Full rebuild throughput: seed N events through the event store, then time the rebuild of
the PostgreSQL time-entries read model and the Redis report rollups.

Seeds entries (a fifth of them edited once) for a few users and projects through
`eventsourcing` (500 aggregates per save), then rebuilds both read models from position 0
beside their live copies and prints events per second.

    DATABASE_URL=... REDIS_URL=... python bench/rebuild.py --events 1000000

Use a scratch database: the benchmark empties nothing but adds N events.
"""

from __future__ import annotations

import argparse
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate

from timetracker.commands.application import open_time_tracking
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.ops.progress import ProgressBar
from timetracker.projections.engine.rebuild import rebuild, rebuild_redis
from timetracker.projections.engine.runner import create_schema
from timetracker.projections.registry import all_projections, redis_projections

SAVE_EVERY = 500
USERS = 50
PROJECTS = 20


def seed(events: int, settings: Settings) -> int:
    """Add about `events` events; returns how many were added."""
    store = open_time_tracking(settings.event_store_env())
    stamp = Stamp(at=datetime.now(UTC), user_id=1, request_id="bench", is_admin=True)
    first = store.ids.next_id("project")
    projects = [
        Project.create(first + n, {"name": f"bench {uuid.uuid4().hex[:6]}"}, stamp)
        for n in range(PROJECTS)
    ]
    store.save(*projects)
    added, pending = PROJECTS, []
    bar = ProgressBar("seed")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    number = store.ids.next_id("time_entry")
    # Numbers are taken from the sequence once and then counted up locally: the benchmark
    # is alone on its scratch database.
    while added < events:
        began = start + timedelta(minutes=7 * number)
        entry = Entry.create(
            number,
            1 + number % USERS,
            projects[number % PROJECTS],
            None,
            {
                "start_time": began,
                "end_time": began + timedelta(minutes=5 + number % 90),
                "billable": number % 3 != 0,
                "notes": "bench",
            },
            "api",
            stamp,
        )
        if number % 5 == 0:
            entry.edit({"notes": "edited"}, projects[number % PROJECTS], None, stamp)
        pending.append(entry)
        added += len(entry.pending_events)
        number += 1
        if len(pending) >= SAVE_EVERY:
            _save(store, pending)
            pending = []
            bar(added, events)
    _save(store, pending)
    bar.finish(f"{added:,} events")
    store.close()
    return added


def _save(store: Any, aggregates: list[Aggregate]) -> None:
    if aggregates:
        store.save(*aggregates)


def _cpu_seconds() -> float:
    """CPU time of this process and of the rebuild processes it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--skip-seed", action="store_true", help="rebuild what is there")
    args = parser.parse_args()
    settings = Settings.from_env()
    create_schema(settings.conninfo, all_projections())
    if not args.skip_seed:
        started = time.monotonic()
        added = seed(args.events, settings)
        seconds = time.monotonic() - started
        print(f"seeded {added:,} events in {seconds:.0f} s ({added / seconds:,.0f}/s)")
    store = open_time_tracking(settings.event_store_env())
    entries = next(p for p in all_projections() if p.name == "time_entries")
    bar = ProgressBar("rebuild time_entries")
    cpu = _cpu_seconds()
    done = rebuild(store, entries, settings.conninfo, bar)
    cpu = _cpu_seconds() - cpu
    bar.finish(f"{done.events:,} events in {done.seconds:.1f} s")
    print(
        f"time_entries (PostgreSQL): {done.events:,} events, {done.rate:,.0f} events/s"
        f" ({done.events / cpu:,.0f} per CPU-second of the rebuild's processes)"
    )
    rollups = next(p for p in redis_projections() if p.name == "report_rollups")
    assert settings.redis_url is not None
    bar = ProgressBar("rebuild report_rollups")
    cpu = _cpu_seconds()
    done = rebuild_redis(store, rollups, settings.redis_url, settings.redis_prefix, bar)
    cpu = _cpu_seconds() - cpu
    bar.finish(f"{done.events:,} events in {done.seconds:.1f} s")
    print(
        f"report_rollups (Redis): {done.events:,} events, {done.rate:,.0f} events/s"
        f" ({done.events / cpu:,.0f} per CPU-second of the rebuild's processes)"
    )
    store.close()


if __name__ == "__main__":
    main()
