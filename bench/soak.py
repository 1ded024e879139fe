"""Soak (LD-1): mixed load at the rate limits' edge across 50 tokens for 15 minutes.

Starts `timetracker serve` on DATABASE_URL and REDIS_URL (use a scratch database; the Redis
keys get a prefix of their own and are deleted at the end) with the default limits
(100/minute, 1000/hour per token), registers 50 users with a token each, and has every
token send a mix of reads and writes paced just under its per-minute limit. Prints p50/p99
per endpoint, answers by status (goal: no 5xx), and the largest RSS among the server's
processes over time with its trend (goal: none).

    DATABASE_URL=... REDIS_URL=... python bench/soak.py --minutes 15 --tokens 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import aiohttp
import redis

from timetracker.commands.application import open_time_tracking
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token, refresh_read_models, register_user

sys.path.insert(0, str(Path(__file__).parent))
from api_writes import free_port

START_TIMEOUT = 60.0


def _own_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib(pid: int) -> float:
    """The largest RSS among `serve` and its worker processes (`--workers N` forks them)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return max(_own_rss_mib(p) for p in [pid, *map(int, children)])


def setup(settings: Settings, tokens: int) -> list[str]:
    store = open_time_tracking(settings.event_store_env())
    try:
        run = uuid.uuid4().hex[:6]
        found = []
        for n in range(tokens):
            name = f"soak-{run}-{n}"
            register_user(store, name, None, None, n == 0)
            found.append(issue_token(store, name, ["read:*", "write:*"], "soak", None).token)
        refresh_read_models(store, settings.conninfo)
        return found
    finally:
        store.close()


async def wait_healthy(base: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base}/api/v1/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the server did not become healthy")


async def soak(base: str, tokens: list[str], pid: int, seconds: float, per_minute: float) -> None:
    latencies: defaultdict[str, list[float]] = defaultdict(list)
    statuses: Counter[tuple[str, int]] = Counter()
    failures: Counter[str] = Counter()
    rss: list[tuple[float, float]] = []
    started = time.monotonic()
    deadline = started + seconds
    interval = 60.0 / per_minute

    async with aiohttp.ClientSession(
        base, connector=aiohttp.TCPConnector(limit=200), timeout=aiohttp.ClientTimeout(30)
    ) as session:
        first = {"Authorization": f"Bearer {tokens[0]}"}
        async with session.post("/api/v1/projects", json={"name": "Soak"}, headers=first) as r:
            project = (await r.json())["project"]["id"]

        async def timed(label: str, method: str, path: str, headers: dict[str, str], body=None):
            began = time.monotonic()
            try:
                async with session.request(method, path, json=body, headers=headers) as response:
                    data = await response.json()
                    statuses[(label, response.status)] += 1
                    if response.status < 400:
                        latencies[label].append(time.monotonic() - began)
                    return response.status, data
            except (aiohttp.ClientError, TimeoutError) as exc:
                failures[f"{label}: {type(exc).__name__}"] += 1
                return None, None

        async def user(n: int, token: str) -> None:
            rng = random.Random(n)
            headers = {"Authorization": f"Bearer {token}"}
            await asyncio.sleep(rng.uniform(0, interval))
            entries: list[int] = []
            i = 0
            while time.monotonic() < deadline:
                tick = time.monotonic()
                i += 1
                roll = rng.random()
                if roll < 0.25:
                    await timed("GET /projects", "GET", "/api/v1/projects", headers)
                elif roll < 0.40:
                    await timed("GET /time-entries", "GET", "/api/v1/time-entries", headers)
                elif roll < 0.50:
                    await timed("GET /timer/status", "GET", "/api/v1/timer/status", headers)
                elif roll < 0.60:
                    path = "/api/v1/reports/summary?start_date=2024-01-01&end_date=2024-12-31"
                    await timed("GET /reports/summary", "GET", path, headers)
                elif roll < 0.75:
                    day, hour = 1 + i % 28, i % 24
                    body = {
                        "project_id": project,
                        "start_time": f"2024-06-{day:02d}T{hour:02d}:00:00Z",
                        "end_time": f"2024-06-{day:02d}T{hour:02d}:45:00Z",
                        "notes": f"soak {n} {i}",
                    }
                    status, data = await timed(
                        "POST /time-entries", "POST", "/api/v1/time-entries", headers, body
                    )
                    if status == 201:
                        entries.append(data["time_entry"]["id"])
                elif roll < 0.85 and entries:
                    path = f"/api/v1/time-entries/{rng.choice(entries)}"
                    await timed(
                        "PATCH /time-entries/{id}", "PATCH", path, headers, {"notes": f"e{i}"}
                    )
                elif roll < 0.93:
                    body = {"project_id": project}
                    await timed("POST /timer/start", "POST", "/api/v1/timer/start", headers, body)
                else:
                    await timed("POST /timer/stop", "POST", "/api/v1/timer/stop", headers)
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - tick)))

        async def sample() -> None:
            while time.monotonic() < deadline:
                rss.append((time.monotonic() - started, rss_mib(pid)))
                await asyncio.sleep(10)

        await asyncio.gather(sample(), *[user(n, t) for n, t in enumerate(tokens)])
    rss.append((time.monotonic() - started, rss_mib(pid)))
    report(latencies, statuses, failures, rss, time.monotonic() - started)


def report(latencies, statuses, failures, rss, elapsed: float) -> None:
    total = sum(statuses.values())
    print(f"\n{total} requests in {elapsed:.0f} s ({total / elapsed:.1f} req/s)")
    print(f"{'endpoint':28} {'ok':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for label in sorted(latencies):
        ordered = sorted(latencies[label])
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000
        print(f"{label:28} {len(ordered):6} {p50:8.1f} {p99:8.1f}")
    by_status = Counter()
    for (_, status), count in statuses.items():
        by_status[status] += count
    print("answers by status:", dict(sorted(by_status.items())))
    print(
        "5xx:",
        sum(c for s, c in by_status.items() if s >= 500),
        "| transport failures:",
        dict(failures) or 0,
    )
    print("RSS (MiB) over time:", ", ".join(f"{t:.0f}s {m:.1f}" for t, m in rss))
    half = [(t, m) for t, m in rss if t >= rss[-1][0] / 2]
    if len(half) >= 3:
        slope = statistics.linear_regression([t for t, _ in half], [m for _, m in half]).slope
        print(f"RSS trend over the second half: {slope * 60:+.2f} MiB/minute")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--per-minute", type=float, default=95.0, help="per token (limit 100)")
    args = parser.parse_args()
    settings = Settings.from_env()
    if not settings.database_url or not settings.redis_url:
        raise SystemExit("set DATABASE_URL and REDIS_URL (a scratch database)")
    prefix = f"soak-{uuid.uuid4().hex[:8]}:"
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "REDIS_PREFIX": prefix}
    with tempfile.TemporaryDirectory() as folder, Path(folder, "serve.log").open("w") as log:
        server = subprocess.Popen(
            ["timetracker", "serve"], env=env, cwd=folder, stdout=log, stderr=log
        )
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_healthy(base))
            tokens = setup(settings, args.tokens)
            asyncio.run(soak(base, tokens, server.pid, args.minutes * 60, args.per_minute))
        finally:
            server.terminate()
            server.wait(timeout=30)
            client = redis.Redis.from_url(settings.redis_url)
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
