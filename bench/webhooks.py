"""Webhook throughput: deliveries/s to a local receiver, and the delay from a write's commit
to its delivery (p50/p99).

Creates a scratch database of its own (dropped at the end), `--subscriptions` webhooks
(default 100) of one admin user to a receiver on 127.0.0.1 (an aiohttp server in a process
of its own), runs the dispatcher in this process (as `serve` runs it in its projections
process), then records `--writes` clients, `--rate` per second, each of which every
subscription receives (`client.created`). The receiver notes when each delivery arrives.

    .venv/bin/python -m bench.webhooks --subscriptions 100 --writes 50 --rate 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import socket
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import orjson
import psycopg
from aiohttp import web
from psycopg import sql

from timetracker.commands.application import open_time_tracking
from timetracker.commands.messages import CreateClient, CreateWebhook
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.http.webhook_dispatch import create_dispatcher
from timetracker.ops.accounts import register_user
from timetracker.webhooks.dispatcher import DispatcherThread

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _receive(port: int, expected: int, pipe: Connection) -> None:
    """The receiver process: answers 204, notes (position, arrival time) of each delivery."""
    arrivals: list[tuple[int, float]] = []
    done = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        arrivals.append((int(body["position"]), time.time()))
        if len(arrivals) >= expected:
            done.set()
        return web.Response(status=204)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook/{n}", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        pipe.send("ready")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=300)
        await asyncio.sleep(0.5)  # duplicates, if any
        pipe.send(arrivals)
        await runner.cleanup()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stamp(user_id: int) -> Stamp:
    return Stamp(at=datetime.now(UTC), user_id=user_id, request_id="bench", is_admin=True)


def run(subscriptions: int, writes: int, rate: float) -> dict[str, Any]:
    """One run; the figures."""
    name = f"tt_bench_wh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    params["dbname"] = name
    settings = Settings(
        database_url=psycopg.conninfo.make_conninfo(**params),  # type: ignore[arg-type]
        webhooks_allow_http=True,
        webhooks_allow_private_networks=True,
        webhooks_max_per_host=subscriptions,
    )
    port = _free_port()
    parent, child = multiprocessing.get_context("spawn").Pipe()
    receiver = multiprocessing.get_context("spawn").Process(
        target=_receive, args=(port, subscriptions * writes, child), daemon=True
    )
    receiver.start()
    assert parent.recv() == "ready"
    store = open_time_tracking(settings.event_store_env())
    try:
        user = register_user(store, "bench", None, None, True)
        for n in range(subscriptions):
            store.create_webhook(
                CreateWebhook(
                    {"url": f"http://127.0.0.1:{port}/hook/{n}", "events": ["client.created"]},
                    _stamp(user),
                )
            )
        dispatcher = DispatcherThread(create_dispatcher(store, settings))
        dispatcher.start()
        time.sleep(2.0)  # let it lead and take in the subscriptions
        committed: dict[int, float] = {}
        started = time.time()
        with ThreadPoolExecutor(4) as pool:
            futures = []
            for i in range(writes):
                due = started + i / rate
                time.sleep(max(0.0, due - time.time()))

                def write(i: int = i) -> None:
                    written = store.create_client(CreateClient({"name": f"c{i}"}, _stamp(user)))
                    assert written.position is not None
                    # The client's own event comes just before its name claim.
                    committed[written.position - 1] = time.time()

                futures.append(pool.submit(write))
            for future in futures:
                future.result()
        arrivals: list[tuple[int, float]] = parent.recv()
        dispatcher.stop()
    finally:
        store.close()
        receiver.join(10)
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    delays = sorted((at - committed[pos]) * 1000 for pos, at in arrivals if pos in committed)
    elapsed = max(at for _, at in arrivals) - started
    return {
        "subscriptions": subscriptions,
        "writes": writes,
        "deliveries": len(arrivals),
        "expected": subscriptions * writes,
        "seconds": round(elapsed, 2),
        "deliveries_per_s": round(len(arrivals) / elapsed, 1),
        "p50_ms": round(statistics.median(delays), 1),
        "p99_ms": round(delays[min(len(delays) - 1, round(0.99 * (len(delays) - 1)))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="writes per second")
    args = parser.parse_args()
    print(orjson.dumps(run(args.subscriptions, args.writes, args.rate)).decode())


if __name__ == "__main__":
    main()
