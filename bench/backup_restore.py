"""Backup and restore of a large event store (goal: each under 60 s for 1,000,000 events).

Creates two scratch databases (dropped at the end unless `--keep`), seeds `--events` events
(default 1,000,000) into the first through the event store: entries of 50 users on 20
projects, a fifth of them edited, one in twenty deleted, and a timer started and stopped
for every tenth. Then it times:

    backup        `create_backup`: one REPEATABLE READ snapshot to a compressed archive
    verify        `verify_archive`: every check of every byte (the dry run does the same)
    restore       `Restorer.restore` into the empty second database: maintenance, loading
                  the events (one transaction), sequences, then every read model replayed;
                  the load and the replay are also timed apart

and checks that both stores have the same events, streams and checksum.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
      python bench/backup_restore.py --events 1000000

DATABASE_URL names a role that may create databases; Redis keys go under a random prefix
and are deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from eventsourcing.domain import Aggregate
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from timetracker.backups.archive import create_backup, store_fingerprint, verify_archive
from timetracker.backups.directory import BackupDirectory
from timetracker.backups.restore import Restorer
from timetracker.commands.application import TimeTracking
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.timer import Timer
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.ops.backup import PhaseBars
from timetracker.ops.progress import ProgressBar
from timetracker.projections.engine.replay import replay_all

SAVE_EVERY = 500
USERS = 50
PROJECTS = 20


def drop_keys(redis_url: str, prefix: str) -> None:
    """Delete the benchmark's Redis keys (all under its random `prefix`)."""
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _database(admin_url: str, label: str) -> tuple[str, str]:
    name = f"tt_bench_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name
    return name, make_conninfo(**params)  # type: ignore[arg-type]


def seed(store: TimeTracking, url: str, events: int) -> int:
    """Add about `events` events through the event store; how many were added."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    admin = Stamp(at=start, user_id=None, request_id="bench", is_admin=True)
    projects = [
        Project.create(store.ids.next_id("project"), {"name": f"bench {n}"}, admin)
        for n in range(PROJECTS)
    ]
    store.save(*projects)
    timers: dict[int, Timer] = {}
    added, pending = PROJECTS, []
    bar = ProgressBar("seed")
    number = store.ids.next_id("time_entry")
    # Numbers come from the sequence once, then are counted up here: the database is ours.
    while added < events:
        user = 1 + number % USERS
        began = start + timedelta(minutes=7 * number)
        stamp = Stamp(at=began + timedelta(hours=2), user_id=user, request_id=f"b{number}")
        project = projects[number % PROJECTS]
        values: dict[str, Any] = {"start_time": began, "notes": "bench", "billable": number % 3 > 0}
        changed: list[Aggregate] = []
        waiting = sum(len(a.pending_events) for a in timers.values())
        if number % 10 == 0:  # a timer run: started, then stopped
            timer = timers.get(user) or Timer.for_user(user, stamp)
            timers[user] = timer
            entry = Entry.create(number, user, project, None, values, "timer", stamp)
            timer.start(number, stamp)
            stop = Stamp(at=stamp.at + timedelta(minutes=30), user_id=user, request_id="s")
            timer.stop(stop)
            entry.stop(stop)
            changed += [entry, timer]
        else:
            values["end_time"] = began + timedelta(minutes=5 + number % 90)
            entry = Entry.create(number, user, project, None, values, "api", stamp)
            if number % 5 == 1:
                entry.edit({"notes": "edited"}, project, None, stamp)
            if number % 20 == 3:
                entry.delete(stamp)
            changed.append(entry)
        pending += [a for a in changed if a not in pending]
        added += len(entry.pending_events)
        added += sum(len(a.pending_events) for a in timers.values()) - waiting
        number += 1
        if len(pending) >= SAVE_EVERY:
            store.save(*pending)  # a timer saved here has no pending events left
            pending = []
            bar(added, events)
    store.save(*pending)
    with psycopg.connect(url) as conn:  # the numbers counted here were taken
        conn.execute("SELECT setval('timetracker_time_entry_id_seq', %s)", (number,))
    bar.finish(f"{added:,} events")
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"tt-bench-{uuid.uuid4().hex[:8]}:"
    names: list[str] = []
    try:
        source_name, source_url = _database(admin_url, "source")
        target_name, target_url = _database(admin_url, "target")
        names += [source_name, target_name]
        source = TimeTracking(Settings(database_url=source_url).event_store_env())
        seeded = seed(source, source_url, args.events)
        source.close()

        folder = Path(tempfile.mkdtemp(prefix="tt-bench-backups-"))
        archive = folder / "bench.tar"
        began = time.perf_counter()
        manifest = create_backup(source_url, archive, ProgressBar("backup"))
        backup_s = time.perf_counter() - began
        print(
            f"\nbackup   {manifest.event_count:>10,} events in {backup_s:6.1f} s"
            f"  ({manifest.event_count / backup_s:,.0f}/s), {archive.stat().st_size:,} bytes"
        )
        began = time.perf_counter()
        verify_archive(archive, ProgressBar("verify"))
        verify_s = time.perf_counter() - began
        print(f"\nverify   {manifest.event_count:>10,} events in {verify_s:6.1f} s")

        settings = Settings(database_url=target_url, redis_url=redis_url, redis_prefix=prefix)
        target = TimeTracking(settings.event_store_env())
        phases: dict[str, float] = {}

        def replay(progress: Any) -> dict[str, int]:
            began = time.perf_counter()
            try:
                return replay_all(target, target_url, redis_url, prefix, progress)
            finally:
                phases["read models"] = time.perf_counter() - began

        restorer = Restorer(target_url, target.mapper, BackupDirectory(folder), replay)
        bars = PhaseBars()
        began = time.perf_counter()
        plan = restorer.plan(archive, progress=bars)
        plan_s = time.perf_counter() - began
        began = time.perf_counter()
        report = restorer.restore(plan, bars)
        restore_s = time.perf_counter() - began
        bars.close()
        events_s = restore_s - phases["read models"]
        print(
            f"restore  {report.events:>10,} events: dry run {plan_s:.1f} s, then"
            f" {restore_s:.1f} s = events loaded in {events_s:.1f} s (with the 1.5 s wait for"
            f" maintenance to reach every process) + read models replayed in"
            f" {phases['read models']:.1f} s ({report.events / phases['read models']:,.0f}/s)"
        )
        print(
            f"restore without the read models (dry run + load): {plan_s + events_s:.1f} s;"
            f" all of it: {plan_s + restore_s:.1f} s"
        )
        target.close()
        a, b = store_fingerprint(source_url), store_fingerprint(target_url)
        same = (a.event_count, a.streams, a.events_sha256) == (
            b.event_count,
            b.streams,
            b.events_sha256,
        )
        print(f"seeded {seeded:,}; source and restored store identical: {same}")
        archive.unlink()
        folder.rmdir()
    finally:
        drop_keys(redis_url, prefix)
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                for name in names:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )


if __name__ == "__main__":
    main()
