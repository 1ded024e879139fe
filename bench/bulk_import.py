"""Bulk and import throughput, end to end: entries/s until the events are stored and every
read model has caught up.

Starts `timetracker serve` on DATABASE_URL and REDIS_URL (a scratch database: this writes),
then
- bulk: posts N finished entries to `POST /time-entries/bulk`, 1,000 per request, C requests
  at a time (each answer waits for read-your-writes), and waits until `/health` shows every
  read model at the head of the log;
- import: uploads a Toggl CSV export of N entries to `POST /admin/imports`, polls the job to
  its end, and waits the same way.

    DATABASE_URL=... REDIS_URL=... python bench/bulk_import.py --entries 20000 --concurrency 2
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence

import aiohttp

from bench.api_writes import delete_keys, free_port, start_server, wait_until_healthy
from timetracker.commands.application import open_time_tracking
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token, refresh_read_models, register_user

BATCH = 1000
TOGGL_HEADER = (
    "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,End date,"
    "End time,Duration,Tags,Amount (EUR)"
)


def admin_token(settings: Settings) -> tuple[str, str]:
    """A fresh admin user of the benchmark's own (with an email) and an admin:all token."""
    store = open_time_tracking(settings.event_store_env())
    try:
        username = f"bench-{uuid.uuid4().hex[:8]}"
        register_user(store, username, f"{username}@example.com", "Benchmark", admin=True)
        issued = issue_token(store, username, ["admin:all"], "bench", None)
        refresh_read_models(store, settings.conninfo)
        return issued.token, username
    finally:
        store.close()


def toggl_csv(count: int, email: str, run: str) -> bytes:
    """A Toggl detailed export of `count` half-hour entries on 10 projects."""
    lines = [TOGGL_HEADER]
    for n in range(count):
        day = f"2023-{1 + n // 28 % 12:02d}-{1 + n % 28:02d}"
        hour = n // 336 % 20
        lines.append(
            f"Bench,{email},Client {run},Project {n % 10},Task {n % 3},Row {n},Yes,"
            f"{day},{hour:02d}:00:00,{day},{hour:02d}:30:00,00:30:00,bench,"
        )
    return ("\n".join(lines) + "\n").encode()


def _item(project: int, n: int) -> dict[str, object]:
    at = f"2024-{1 + n // 28 % 12:02d}-{1 + n % 28:02d}T{n // 336 % 20:02d}"
    return {
        "project_id": project,
        "start_time": f"{at}:00:00Z",
        "end_time": f"{at}:30:00Z",
        "notes": f"bulk {n}",
    }


async def caught_up(session: aiohttp.ClientSession, base: str) -> None:
    """Wait until /health shows every read model at the head of the log."""
    while True:
        async with session.get(f"{base}/api/v1/health") as response:
            body = await response.json()
        lags = [p.get("lag_events", 1) for p in body["checks"]["projections"].values()]
        if lags and max(lags) == 0:
            return
        await asyncio.sleep(0.05)


async def bulk(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str], count: int, conc: int
) -> float:
    """Seconds to record `count` entries through the bulk endpoint and catch up."""
    async with session.post(
        f"{base}/api/v1/projects", json={"name": f"bulk {uuid.uuid4().hex[:6]}"}, headers=headers
    ) as response:
        project = (await response.json())["project"]["id"]
    batches = [
        [_item(project, n) for n in range(first, min(first + BATCH, count))]
        for first in range(0, count, BATCH)
    ]
    queue: asyncio.Queue[list[dict[str, object]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while not queue.empty():
            items = queue.get_nowait()
            async with session.post(
                f"{base}/api/v1/time-entries/bulk", json={"time_entries": items}, headers=headers
            ) as response:
                await response.read()
                if response.status != 201:
                    failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    await caught_up(session, base)
    elapsed = time.perf_counter() - started
    if failures:
        print(f"bulk: {failures} requests failed", file=sys.stderr)
    return elapsed


async def import_file(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str], content: bytes
) -> tuple[float, dict[str, object]]:
    """Seconds to import a Toggl export over HTTP and catch up; the job's result."""
    form = aiohttp.FormData()
    form.add_field("format", "toggl")
    form.add_field("file", content, filename="toggl.csv", content_type="text/csv")
    started = time.perf_counter()
    async with session.post(f"{base}/api/v1/admin/imports", data=form, headers=headers) as r:
        if r.status != 202:
            raise SystemExit(f"import refused: {r.status} {await r.text()}")
        location = r.headers["Location"]
    while True:
        async with session.get(f"{base}{location}", headers=headers) as r:
            job = (await r.json())["job"]
        if job["state"] != "running":
            break
        await asyncio.sleep(0.1)
    if job["state"] != "done":
        raise SystemExit(f"import job {job['state']}: {job['error']}")
    recorded = time.perf_counter() - started
    await caught_up(session, base)
    return time.perf_counter() - started, {**job["result"], "recorded_after": recorded}


async def benchmark(
    base: str, token: str, username: str, count: int, conc: int, server: subprocess.Popen[bytes]
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await wait_until_healthy(session, base, server)
        await caught_up(session, base)
        seconds = await bulk(session, base, headers, count, conc)
        print(
            f"bulk   {count} entries in {seconds:.2f} s: {count / seconds:8.0f} entries/s"
            f" ({conc} concurrent requests of {BATCH})"
        )
        content = toggl_csv(count, f"{username}@example.com", uuid.uuid4().hex[:6])
        seconds, result = await import_file(session, base, headers, content)
        created = int(str(result["entries_created"]))
        print(
            f"import {created} entries in {seconds:.2f} s: {created / seconds:8.0f} entries/s"
            f" (upload, plan, job, every read model caught up; the job ended after"
            f" {result['recorded_after']:.2f} s)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: `python bench/bulk_import.py [--entries N] [--concurrency C]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if not settings.database_url or not settings.redis_url:
        print("Set DATABASE_URL and REDIS_URL (a scratch database: this writes).", file=sys.stderr)
        return 2
    token, username = admin_token(settings)
    port = free_port()
    redis_prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryFile() as log:
        server = start_server(port, redis_prefix, log)
        try:
            asyncio.run(
                benchmark(
                    f"http://127.0.0.1:{port}",
                    token,
                    username,
                    args.entries,
                    args.concurrency,
                    server,
                )
            )
        except BaseException:
            log.seek(0)
            print(log.read().decode(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            delete_keys(settings.redis_url, redis_prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
