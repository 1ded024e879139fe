"""Grouped reports and exports over the report-groups read model (default 100,000 entries).

Creates a scratch database on the PostgreSQL server of ADMIN_DATABASE_URL (default: the
local one), writes the read model's rows directly (20 users, 10 clients, 30 projects with
and without rates, 60 tasks; entries spread over 90 days, a third with two tags), then
times at one connection, as the report handler asks them:

- `summary`: the plain summary (totals and per-project rows; `group_by=project` is the same
  query) over the 90 days, from the day sums;
- `user,day`: `group_by=user,day` (the per-project query and the grouped one), UTC and
  Europe/Berlin, and `client,week` in Berlin, from the day sums;
- `tag,week*` and `user,day*`: summed from the entries (tags are not in the day sums; the
  second as if its zone had none);
- `export csv`: every entry of the window through the export's cursor and CSV writer
  (rows/s), and the process's peak RSS before and after.

    python bench/report_groups.py --entries 100000 --rounds 30

The database is dropped at the end. Figures on a shared machine are indicative only.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import resource
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from timetracker.http.export_files import _write_csv
from timetracker.http.exports import _entry_cells
from timetracker.projections.report_days import _RECOMPUTE, _TOUCHED, refresh_days
from timetracker.projections.report_groups import ReportGroupsProjection
from timetracker.projections.report_groups_view import ReportGroupsView, ReportWindow

DAYS = 90
END = datetime(2024, 6, 30, tzinfo=UTC)
START = END - timedelta(days=DAYS)


def _conninfo(url: str, dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


def seed(conninfo: str, entries: int) -> None:
    """The read model's tables and rows, written directly (no event log)."""
    rng = random.Random(20)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in ReportGroupsProjection().create_statements():
            conn.execute(statement)  # type: ignore[arg-type]
        position = 0
        with conn.cursor().copy(
            "COPY report_labels (label_uuid, valid_from, kind, id, name, client_id, rate,"
            " timezone) FROM STDIN"
        ) as copy:
            for n in range(1, 21):
                position += 1
                copy.write_row((uuid.uuid4(), position, "user", n, f"user{n}", None, None, "UTC"))
            for n in range(1, 11):
                position += 1
                rate = Decimal(50 + n) if n % 2 else None
                copy.write_row(
                    (uuid.uuid4(), position, "client", n, f"Client {n}", None, rate, None)
                )
            for n in range(1, 31):
                position += 1
                rate = Decimal(n) + Decimal("0.25") if n % 3 else None
                client = n % 10 + 1 if n % 4 else None
                copy.write_row(
                    (uuid.uuid4(), position, "project", n, f"Project {n}", client, rate, None)
                )
            for n in range(1, 61):
                position += 1
                copy.write_row((uuid.uuid4(), position, "task", n, f"Task {n}", None, None, None))
        span = DAYS * 86400
        with conn.cursor().copy(
            "COPY report_entries (entry_uuid, valid_from, entry_id, user_id, project_id, task_id,"
            " start_time, end_time, seconds, billable, tags, notes) FROM STDIN"
        ) as copy:
            for n in range(1, entries + 1):
                position += 1
                start = START + timedelta(seconds=rng.randrange(span))
                seconds = rng.randrange(300, 4 * 3600)
                tags = rng.choice([[], ["a"], ["b"], ["a", "b"], ["meeting", "a"]])
                copy.write_row(
                    (
                        uuid.uuid4(),
                        position,
                        n,
                        rng.randrange(1, 21),
                        rng.randrange(1, 31),
                        rng.randrange(1, 61) if rng.random() < 0.5 else None,
                        start,
                        start + timedelta(seconds=seconds),
                        seconds,
                        rng.random() < 0.7,
                        tags,
                        f"note {n}",
                    )
                )
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(_TOUCHED)
            cursor.execute(
                "INSERT INTO report_touched SELECT DISTINCT 'UTC', user_id, project_id,"
                " (start_time AT TIME ZONE 'UTC')::date FROM report_entries"
            )
            cursor.execute(_RECOMPUTE)
            refresh_days(cursor, [], set(), set(), {"Europe/Berlin"})
        conn.execute("VACUUM ANALYZE report_day_sums")
        conn.execute("VACUUM ANALYZE report_entries")
        conn.execute("VACUUM ANALYZE report_labels")


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def measure(conninfo: str, rounds: int) -> None:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False
    )
    await pool.open()
    view = ReportGroupsView(pool)
    days = (START.date(), (END - timedelta(days=1)).date())
    zone = ZoneInfo("Europe/Berlin")
    local = [datetime.combine(d, datetime.min.time(), zone) for d in days]
    window = ReportWindow(start=START, end=END, tz="UTC", days=days)
    berlin = ReportWindow(
        start=local[0], end=local[1] + timedelta(days=1), tz="Europe/Berlin", days=days
    )
    scan = dataclasses.replace(window, days=None)
    cases: list[tuple[str, list[tuple[tuple[str, ...], ReportWindow]]]] = [
        ("summary", [(("project",), window)]),
        ("user,day", [(("project",), window), (("user", "day"), window)]),
        ("user,day Berlin", [(("project",), berlin), (("user", "day"), berlin)]),
        ("client,week", [(("project",), berlin), (("client", "week"), berlin)]),
        ("tag,week*", [(("project",), berlin), (("tag", "week"), berlin)]),
        ("user,day*", [(("project",), scan), (("user", "day"), scan)]),
    ]
    for name, queries in cases:
        for keys, w in queries:  # warm up
            await view.report(keys, w)
        timings, kept = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            for keys, w in queries:
                await view.report(keys, w)
            timings.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            for keys, w in queries:
                await view.report_at(keys, w, version=1)  # the read model has not moved
            kept.append((time.perf_counter() - started) * 1000)
        print(
            f"{name:16} summed: p50 {statistics.median(timings):7.1f} ms"
            f"  p95 {_p(timings, 0.95):7.1f} ms;"
            f" asked again: p50 {statistics.median(kept):6.2f} ms  ({rounds} rounds)"
        )

    class Sink:
        size = 0

        async def write(self, data: bytes) -> None:
            Sink.size += len(data)

    async def rows() -> Any:
        async for chunk in view.export_rows(berlin):
            yield [_entry_cells(row, zone) for row in chunk]

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    await _write_csv(Sink(), ["id"], rows())  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    count = await view.report((), berlin)
    print(
        f"export csv {count.totals.entries:,} rows in {seconds:.2f} s:"
        f" {count.totals.entries / seconds:,.0f} rows/s, {Sink.size / 1e6:.1f} MB;"
        f" peak RSS {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after"
    )
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--keep", help="keep the database under this name (seeded once)")
    args = parser.parse_args()
    admin = os.environ.get("ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    dbname = args.keep or f"bench_groups_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    try:
        conninfo = _conninfo(admin, dbname)
        if not exists:
            started = time.perf_counter()
            seed(conninfo, args.entries)
            print(f"seeded {args.entries:,} entries in {time.perf_counter() - started:.1f} s")
        asyncio.run(measure(conninfo, args.rounds))
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )


if __name__ == "__main__":
    main()
