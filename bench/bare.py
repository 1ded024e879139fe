"""The HTTP stack's ceiling: a bare aiohttp app that answers GET /bare/{size} with a JSON body
of about `size` bytes (a list of entry-like objects encoded with orjson on every request, as
the service encodes its answers), no middleware, no I/O.

Given a database and Redis, it also answers GET /floor/{size}: the same body after the two
round trips every API read makes, the service's own rate-limit script in Redis (a minute
and an hour window, as the service counts them) and one query through a pool set up as the
service's read pool. What the API's reads can reach at best with that I/O in Python.

    python -m bench.bare --port 8090 --workers 2     # N processes sharing the port
    python -m bench.bare --port 8090 --database-url postgresql://... --redis-url redis://...
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import os
import signal
import subprocess
import sys
from typing import Any

import orjson
from aiohttp import web
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from timetracker.http.queueing_pool import QueueingPool
from timetracker.http.rate_limit import RateLimiter, Window

FLOOR_WINDOWS = [Window("minute", 10**9, 60), Window("hour", 10**9, 3600)]
FLOOR_SUBJECTS = 50  # rotated through, as the benchmark's reads rotate 50 tokens

_bodies: dict[int, Any] = {}


def body_of_size(size: int) -> Any:
    """An object whose JSON encoding is about `size` bytes long."""
    found = _bodies.get(size)
    if found is not None:
        return found
    items: list[dict[str, Any]] = []
    body: dict[str, Any] = {"items": items, "pagination": {"page": 1, "per_page": 50}}
    while len(orjson.dumps(body)) < size:
        n = len(items) + 1
        items.append(
            {
                "id": n,
                "project_id": n % 20 + 1,
                "start_time": "2024-01-15T09:00:00Z",
                "notes": "Bench entry",
                "billable": True,
                "duration_hours": 1.25,
            }
        )
    overshoot = len(orjson.dumps(body)) - size
    if items and overshoot > 0:
        items[-1]["notes"] = items[-1]["notes"][: max(0, len(items[-1]["notes"]) - overshoot)]
    _bodies[size] = body
    return body


async def bare(request: web.Request) -> web.Response:
    size = int(request.match_info["size"])
    return web.Response(body=orjson.dumps(body_of_size(size)), content_type="application/json")


async def floor(request: web.Request) -> web.Response:
    size = int(request.match_info["size"])
    limiter: RateLimiter = request.app["limiter"]
    await limiter.hit(next(request.app["subjects"]), FLOOR_WINDOWS)
    pool: AsyncConnectionPool[Any] = request.app["pool"]
    async with pool.connection() as conn:
        await (await conn.execute("SELECT 1 AS one")).fetchall()
    return web.Response(body=orjson.dumps(body_of_size(size)), content_type="application/json")


def _with_floor(database_url: str, redis_url: str, redis_prefix: str) -> Any:
    async def context(app: web.Application) -> Any:
        redis = Redis.from_url(redis_url)
        pool: AsyncConnectionPool[Any] = QueueingPool(
            database_url,
            max_size=10,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
        )
        await pool.open(wait=True, timeout=10)
        app["limiter"], app["pool"] = RateLimiter(redis, redis_prefix), pool
        app["subjects"] = itertools.cycle([f"floor-{n}" for n in range(FLOOR_SUBJECTS)])
        yield
        await pool.close()
        await app["limiter"].close()
        await redis.aclose()

    return context


def serve(port: int, database_url: str | None, redis_url: str | None, redis_prefix: str) -> None:
    app = web.Application()
    app.router.add_get("/bare/{size}", bare)
    if database_url and redis_url:
        app.cleanup_ctx.append(_with_floor(database_url, redis_url, redis_prefix))
        app.router.add_get("/floor/{size}", floor)
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, print=None)


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG (Linux)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", help="with --redis-url: also serve /floor/{size}")
    parser.add_argument("--redis-url")
    parser.add_argument("--redis-prefix", default="bench-floor:")
    args = parser.parse_args()
    if args.workers == 1:
        serve(args.port, args.database_url, args.redis_url, args.redis_prefix)
        return 0
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.bare", *sys.argv[1:], "--workers", "1"],
            preexec_fn=_die_with_parent,
        )
        for _ in range(args.workers)
    ]

    def stop(signum: int, frame: object) -> None:
        for child in children:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.wait()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
