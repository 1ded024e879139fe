"""Latency of `GET /reports/summary?as_of=...` over a log of N events (default 1,000,000).

Creates a scratch database on the PostgreSQL server of ADMIN_DATABASE_URL (default: the
local one), seeds N events through the event store with event times spread over about a
year (entries recorded, a third of them edited later, some deleted and a few restored,
projects renamed now and then), brings the time-travel and accounts read models up to
date, serves the API in this process, and times as-of reports at random past moments:

- `user 30 d`: one user's report over the 30 days before the moment;
- `all 30 d`: everyone's report over those 30 days (admin);
- `all 365 d`: everyone's report over the year before the moment (admin);
- `entry`: one time entry as of the moment.

    REDIS_URL=redis://127.0.0.1:6379/0 python bench/as_of_report.py --events 1000000

The database is dropped at the end unless `--keep`; `--database NAME` reuses a kept one
(no seeding). Redis keys get a prefix of their own and are deleted at the end.

Measured on the development VM (2 cores, PostgreSQL 15, 1,000,072 events, 50 rounds):
seeding 7,355 events/s; time_travel read model caught up at 12,014 events/s;
user 30 d p50 4.1 ms (p95 5.1); all 30 d p50 17.4 ms (p95 25.3);
all 365 d p50 80.9 ms (p95 168.2, max 221.1); entry p50 3.0 ms (p95 4.8).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import psycopg
import redis
from aiohttp import web
from psycopg import sql

from timetracker.commands.application import TimeTracking, open_time_tracking
from timetracker.commands.messages import RegisterUser
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.values import Stamp
from timetracker.http.app import create_app
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token
from timetracker.ops.progress import ProgressBar
from timetracker.projections.engine.runner import ProjectionRunner, create_schema
from timetracker.projections.registry import all_projections

USERS = 20
PROJECTS = 30
SAVE_EVERY = 1000
EVENT_SPACING = timedelta(seconds=30)  # 1,000,000 events span about 347 days
RECENT = 5000  # entries still in memory for later edits, deletes and restores


def _conninfo(url: str, dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


@dataclass
class Seeder:
    """Writes events through the domain with a simulated clock, many aggregates per save."""

    store: TimeTracking
    clock: datetime
    rng: random.Random
    added: int = 0
    pending: dict[Any, Any] = field(default_factory=dict)
    recent: deque[Entry] = field(default_factory=lambda: deque(maxlen=RECENT))
    deleted: list[Entry] = field(default_factory=list)

    def stamp(self, user_id: int | None) -> Stamp:
        self.clock += EVENT_SPACING
        return Stamp(at=self.clock, user_id=user_id, request_id="bench", is_admin=True)

    def touch(self, aggregate: Any) -> None:
        self.pending[aggregate.id] = aggregate

    def flush(self) -> None:
        if self.pending:
            self.added += sum(len(a.pending_events) for a in self.pending.values())
            self.store.save(*self.pending.values())
            self.pending = {}


def seed(store: TimeTracking, events: int, start: datetime) -> int:
    """Add about `events` events recorded from `start` on; how many were added."""
    rng = random.Random(6)
    seeder = Seeder(store, start, rng)
    for n in range(USERS + 1):
        name, role = (f"user{n + 1}", "user") if n < USERS else ("auditor", "admin")
        store.register_user(RegisterUser(name, None, None, role, seeder.stamp(None)))
    first = store.ids.next_id("project")
    projects = [
        Project.create(first + n, {"name": f"project {n}"}, seeder.stamp(None))
        for n in range(PROJECTS)
    ]
    for project in projects:
        seeder.touch(project)
    seeder.flush()
    bar = ProgressBar("seed")
    number = store.ids.next_id("time_entry")
    # Entry numbers are counted up locally: the benchmark is alone on its database.
    while seeder.added + len(seeder.pending) < events:
        user = rng.randint(1, USERS)
        stamp = seeder.stamp(user)
        began = stamp.at.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
        entry = Entry.create(
            number,
            user,
            rng.choice(projects),
            None,
            {
                "start_time": began,
                "end_time": began + timedelta(minutes=rng.randint(5, 240)),
                "billable": rng.random() < 0.7,
            },
            "api",
            stamp,
        )
        number += 1
        seeder.touch(entry)
        seeder.recent.append(entry)
        _later_change(seeder, projects)
        if len(seeder.pending) >= SAVE_EVERY:
            seeder.flush()
            bar(seeder.added, events)
    seeder.flush()
    bar.finish(f"{seeder.added:,} events")
    return seeder.added


def _later_change(seeder: Seeder, projects: list[Project]) -> None:
    """Now and then, change something recorded earlier."""
    rng = seeder.rng
    by_number = {p.number: p for p in projects}
    roll = rng.random()
    if roll < 0.3 and seeder.recent:
        entry = rng.choice(seeder.recent)
        if not entry.deleted:
            end = entry.start_time + timedelta(minutes=rng.randint(5, 300))
            values: dict[str, Any] = {"end_time": end, "billable": rng.random() < 0.7}
            project = by_number[entry.project_id]
            if rng.random() < 0.1:
                project = rng.choice(projects)
                values["project_id"] = project.number
            entry.edit(values, project, None, seeder.stamp(entry.user_id))
            seeder.touch(entry)
    elif roll < 0.38 and seeder.recent:
        entry = rng.choice(seeder.recent)
        if not entry.deleted:
            entry.delete(seeder.stamp(entry.user_id))
            seeder.deleted.append(entry)
            seeder.touch(entry)
    elif roll < 0.39 and seeder.deleted:
        entry = seeder.deleted.pop(rng.randrange(len(seeder.deleted)))
        entry.restore(by_number[entry.project_id], seeder.stamp(entry.user_id))
        seeder.touch(entry)
    elif roll < 0.3901:
        project = rng.choice(projects)
        name = f"{project.name.split(' (')[0]} ({rng.randrange(16**4):04x})"
        project.update({"name": name}, seeder.stamp(None))
        seeder.touch(project)


def catch_up(store: TimeTracking, conninfo: str) -> None:
    """Bring the read models the benchmark needs (time travel, accounts) up to date."""
    for name in ("time_travel", "accounts"):
        projection = next(p for p in all_projections() if p.name == name)
        runner = ProjectionRunner(store, projection, conninfo)
        started = time.monotonic()
        try:
            done = runner.catch_up()
        finally:
            runner.close()
        seconds = time.monotonic() - started
        print(f"read model {name}: {done:,} events in {seconds:.1f} s ({done / seconds:,.0f}/s)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _report(name: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{name:10} {len(ordered):4} requests: p50 {statistics.median(ordered) * 1000:7.1f} ms"
        f"  p95 {p95 * 1000:7.1f} ms  max {ordered[-1] * 1000:7.1f} ms"
    )


async def measure(
    settings: Settings, token: str, first: datetime, last: datetime, rounds: int, entries: int
) -> None:
    """Serve the API here and time as-of requests at random moments of the log."""
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    timings: dict[str, list[float]] = {
        "user 30 d": [],
        "all 30 d": [],
        "all 365 d": [],
        "entry": [],
    }
    span = (last - first).total_seconds()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            for n in range(rounds):
                moment = first + timedelta(seconds=rng.uniform(0.1, 1.0) * span)
                at = moment.isoformat().replace("+00:00", "Z")
                day = moment.date()
                month = f"start_date={day - timedelta(days=30)}&end_date={day}"
                year = f"start_date={day - timedelta(days=365)}&end_date={day}"
                queries = {
                    "user 30 d": f"/api/v1/reports/summary?{month}&user_id={1 + n % USERS}",
                    "all 30 d": f"/api/v1/reports/summary?{month}",
                    "all 365 d": f"/api/v1/reports/summary?{year}",
                    "entry": f"/api/v1/time-entries/{rng.randint(1, entries)}",
                }
                for name, path in queries.items():
                    url = f"{path}{'&' if '?' in path else '?'}as_of={at}"
                    started = time.perf_counter()
                    async with session.get(url, headers=headers) as response:
                        body = await response.read()
                        assert response.status in (200, 404), (path, response.status, body)
                        assert response.headers["X-Event-Position"]
                    timings[name].append(time.perf_counter() - started)
                    if n == 0 and name == "all 365 d":
                        print(f"first {name} report as of {at}: {body[:400].decode()}...")
    finally:
        await runner.cleanup()
    for name, seconds in timings.items():
        print(_report(name, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=40, help="requests of each kind")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--database", help="reuse this kept database (no seeding)")
    args = parser.parse_args()
    admin_url = os.environ.get(
        "ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    dbname = args.database or f"tt_bench_asof_{uuid.uuid4().hex[:8]}"
    if args.database is None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    prefix = f"tt-bench-asof-{uuid.uuid4().hex[:8]}:"
    settings = Settings(
        database_url=_conninfo(admin_url, dbname),
        redis_url=redis_url,
        redis_prefix=prefix,
        run_projections=False,
        rate_limit_per_minute=0,
        rate_limit_per_hour=0,
    )
    try:
        create_schema(settings.conninfo, all_projections())
        store = open_time_tracking(settings.event_store_env())
        try:
            if args.database is None:
                started = time.monotonic()
                # Recorded up to a few minutes ago: the clock of the log only moves forward.
                start = datetime.now(UTC) - EVENT_SPACING * args.events - timedelta(hours=1)
                added = seed(store, args.events, start)
                seconds = time.monotonic() - started
                print(f"seeded {added:,} events in {seconds:.0f} s ({added / seconds:,.0f}/s)")
            token = issue_token(store, "auditor", ["admin:all"], "bench", None).token
            catch_up(store, settings.conninfo)
            with psycopg.connect(settings.conninfo, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load
                head, earliest, latest, entries = conn.execute(
                    "SELECT max(position), min(recorded_at), max(recorded_at) FILTER"
                    " (WHERE recorded_at < now() - interval '10 minutes'),"
                    " (SELECT max(entry_id) FROM entry_versions) FROM log_clock"
                ).fetchone()  # type: ignore[misc]
            print(f"log: {head:,} events recorded from {earliest} to {latest}")
        finally:
            store.close()
        asyncio.run(measure(settings, token, earliest, latest, args.rounds, entries))
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
        if args.keep or args.database:
            print(f"kept database {dbname}")
        else:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )


if __name__ == "__main__":
    main()
