"""Write and read throughput of the API: create N projects over HTTP, then read each back.

Starts `timetracker serve` on DATABASE_URL and REDIS_URL (required: the benchmark writes
there, so use a scratch database; its Redis keys get a prefix of their own and are deleted
at the end), issues a token for a user of its own, and prints
requests/s, p50 and p99 for the writes (each waits for read-your-writes) and the reads.

    DATABASE_URL=... REDIS_URL=... python bench/api_writes.py --projects 500 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

import aiohttp
import redis

from timetracker.commands.application import open_time_tracking
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token, refresh_read_models, register_user

START_TIMEOUT = 60.0
NO_LIMIT = str(10**9)  # the benchmark measures the service, not its rate limits


@dataclass
class Timings:
    """Latencies of one phase and how many requests went wrong."""

    name: str
    seconds: list[float] = field(default_factory=list)
    failures: int = 0
    stale: int = 0  # writes answered before the read model caught up
    elapsed: float = 0.0

    def report(self) -> str:
        done = len(self.seconds)
        if done == 0:
            return f"{self.name}: no successful requests, {self.failures} failed"
        ordered = sorted(self.seconds)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(done - 1, round(0.99 * (done - 1)))] * 1000
        line = (
            f"{self.name:6} {done} requests in {self.elapsed:.2f} s: "
            f"{done / self.elapsed:7.1f} req/s, p50 {p50:6.1f} ms, p99 {p99:6.1f} ms, "
            f"{self.failures} failed"
        )
        if self.name == "writes":
            line += f", {self.stale} read-your-writes timeouts"
        return line


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_token(settings: Settings) -> str:
    """A fresh admin user of the benchmark's own and a token to read and write projects."""
    store = open_time_tracking(settings.event_store_env())
    try:
        username = f"bench-{uuid.uuid4().hex[:8]}"
        register_user(store, username, None, "Benchmark", admin=True)
        issued = issue_token(store, username, ["read:projects", "write:projects"], "bench", None)
        refresh_read_models(store, settings.conninfo)
        token: str = issued.token
        return token
    finally:
        store.close()


def start_server(port: int, redis_prefix: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """`timetracker serve` on `port`, logging to `log` (shown if it fails to start)."""
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "REDIS_PREFIX": redis_prefix,
        "RATE_LIMIT_PER_MINUTE": NO_LIMIT,
        "RATE_LIMIT_PER_HOUR": NO_LIMIT,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "timetracker.ops.cli", "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def wait_until_healthy(
    session: aiohttp.ClientSession, base: str, server: subprocess.Popen[bytes]
) -> None:
    """Poll /api/v1/health until it answers 200."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"serve exited with {server.returncode}")
        try:
            async with session.get(f"{base}/api/v1/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"serve was not healthy after {START_TIMEOUT} s")


async def run_phase(
    timings: Timings, count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> None:
    """Call `one(i)` for i in range(count), `concurrency` at a time, timing each call."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            await one(i)
            timings.seconds.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    timings.elapsed = time.perf_counter() - started


async def benchmark(
    base: str, token: str, count: int, concurrency: int, server: subprocess.Popen[bytes]
) -> None:
    """Create `count` projects, then read each one; print the figures."""
    headers = {"Authorization": f"Bearer {token}"}
    ids: list[int | None] = [None] * count
    run = uuid.uuid4().hex[:6]
    writes, reads = Timings("writes"), Timings("reads")
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_until_healthy(session, base, server)

        async def create(i: int) -> None:
            body = {"name": f"bench {run} {i}", "hourly_rate": 90, "billable": True}
            async with session.post(f"{base}/api/v1/projects", json=body, headers=headers) as r:
                if r.status != 201:
                    writes.failures += 1
                    return
                ids[i] = (await r.json())["project"]["id"]
                if r.headers.get("X-Read-Your-Writes") == "timeout":
                    writes.stale += 1

        async def read(i: int) -> None:
            url = f"{base}/api/v1/projects/{ids[i]}"
            async with session.get(url, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    reads.failures += 1

        await run_phase(writes, count, concurrency, create)
        await run_phase(reads, count, concurrency, read)
    print(f"{count} projects, {concurrency} concurrent clients")
    print(writes.report())
    print(reads.report())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: `python bench/api_writes.py [--projects N] [--concurrency C]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if not settings.database_url or not settings.redis_url:
        print("Set DATABASE_URL and REDIS_URL (a scratch database: this writes).", file=sys.stderr)
        return 2
    token = bench_token(settings)
    port = free_port()
    # Keys of its own (Redis read models rebuilt from the log, rate-limit windows), deleted
    # afterwards, so it never shares Redis state with a server on another database.
    redis_prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryFile() as log:
        server = start_server(port, redis_prefix, log)
        try:
            asyncio.run(
                benchmark(
                    f"http://127.0.0.1:{port}", token, args.projects, args.concurrency, server
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


def delete_keys(redis_url: str, prefix: str) -> None:
    """Delete every Redis key under `prefix`."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
