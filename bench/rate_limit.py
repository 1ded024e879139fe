"""The latency the rate limiter adds to a request: the same endpoint with limits on and off.

Runs the app in-process on DATABASE_URL and REDIS_URL (a scratch database: it writes a
user and a token), sends N sequential GET /api/v1/users/me requests in each mode,
alternating blocks so drift on a shared machine hits both alike, and prints median and
p99 per mode and their difference.

    DATABASE_URL=... REDIS_URL=... python bench/rate_limit.py --requests 4000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import time
import uuid

from aiohttp.test_utils import TestClient, TestServer

from timetracker.http.app import create_app
from timetracker.http.keys import freshness_key, time_tracking_key
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token, register_user

BLOCK = 200


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _client(settings: Settings) -> TestClient:
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    return client


async def main(requests: int) -> None:
    base = Settings.from_env()
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    limited = dataclasses.replace(
        base, redis_prefix=prefix, rate_limit_per_minute=10**9, rate_limit_per_hour=10**9
    )
    unlimited = dataclasses.replace(limited, rate_limit_per_minute=0, rate_limit_per_hour=0)
    clients = {"limits on": await _client(limited), "limits off": await _client(unlimited)}
    store = clients["limits on"].app[time_tracking_key]
    name = f"bench-{uuid.uuid4().hex[:6]}"
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, register_user, store, name, None, None, False)
    issued = await loop.run_in_executor(None, issue_token, store, name, ["read:users"], "b", None)
    for client in clients.values():
        await client.app[freshness_key].wait_for(["accounts"], issued.position, 10)
    headers = {"Authorization": f"Bearer {issued.token}"}
    timings: dict[str, list[float]] = {mode: [] for mode in clients}
    for _ in range(max(1, requests // BLOCK)):
        for mode, client in clients.items():
            for _ in range(BLOCK):
                started = time.perf_counter()
                response = await client.get("/api/v1/users/me", headers=headers)
                await response.read()
                assert response.status == 200, response.status
                timings[mode].append(time.perf_counter() - started)
    for client in clients.values():
        await client.close()
    medians = {m: statistics.median(t) * 1000 for m, t in timings.items()}
    for mode, values in timings.items():
        print(
            f"{mode:10}  {len(values)} requests  median {medians[mode]:.3f} ms"
            f"  p99 {_percentile(values, 0.99) * 1000:.3f} ms"
        )
    added = medians["limits on"] - medians["limits off"]
    p99_added = (
        _percentile(timings["limits on"], 0.99) - _percentile(timings["limits off"], 0.99)
    ) * 1000
    print(f"added by the limiter: median {added:.3f} ms, p99 {p99_added:.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    asyncio.run(main(parser.parse_args().requests))
