"""The whole benchmark in one run: seed, ceilings, the service with 1 and 2 workers, a table.

1. Creates two scratch databases (`tt_bench_<id>`, `tt_bench_<id>_es`) on the PostgreSQL at
   `--admin-url` and a Redis key prefix of its own; drops and deletes them at the end.
2. Seeds the data set through the event store (`bench/seed.py`).
3. For each worker count: starts `timetracker serve --workers N` (read models built by its
   own runners from the log, then ANALYZEd) and drives each scenario over loopback with
   `bench/load.py`, noting the server's RSS after each. Each scenario is measured next to
   its ceiling, so that both see the same machine: a read is followed by a bare aiohttp
   app on N processes answering a JSON body of the same size (`bench/bare.py`); a write is
   preceded by a bare `eventsourcing` save loop, N processes x 8 threads, on the same
   PostgreSQL (`bench/store_ceiling.py`).
4. Prints one table (each scenario as a ratio to its ceiling) and the goals met or missed,
   and writes the figures to a JSON file (default `bench/results/latest.json`).

    python -m bench                        # the full data set, about 6-8 minutes
    python -m bench --entries 2000 --users 5 --duration 1 --warmup 0.3 --workers 1   # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psycopg
import redis
from psycopg import sql

from bench.load import Next, Outcome, build_request, drive
from bench.seed import DataSet, Shape, seed
from bench.store_ceiling import saves_per_second
from timetracker.http.settings import Settings

PR_SET_PDEATHSIG = 1
NO_LIMIT = str(10**9)  # rate limits stay in the path, but never refuse
START_TIMEOUT = 120.0
CATCH_UP_TIMEOUT = 600.0
OK = frozenset({200})
CREATED = frozenset({201})

READS = ("projects", "time_entries", "time_entries_page", "summary", "timer_status")
WRITES = ("create_entry", "timer_start_stop")
GOALS = {
    "read_ratio": 0.40,
    "read_floor_share": 0.70,
    "read_p99_ms": 50.0,
    "summary_p50_ms": 5.0,
    "write_ratio": 0.60,
    "rss_mb": 250.0,
    "p99_under_writes": 2.0,
}


def _url_with_dbname(url: str, dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


@contextlib.contextmanager
def scratch_database(admin_url: str, name: str) -> Iterator[str]:
    """A database created for the run and dropped afterwards."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _url_with_dbname(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def delete_keys(redis_url: str, prefix: str) -> None:
    """Delete every Redis key under `prefix`."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (workers, and their projection processes)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(parent, []).append(int(entry.name))
    found = [pid]
    for process in found:  # grows as it goes: breadth first
        found += parents.get(process, [])
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def server_rss(pid: int) -> dict[str, float]:
    """RSS in MiB of the server's processes: the largest one (a serving process or a
    projection process; the goal is per process) and the parent."""
    tree = process_tree(pid)
    return {
        "max_serving_mb": round(max(rss_mb(p) for p in tree), 1),
        "parent_mb": round(rss_mb(pid), 1),
        "processes": len(tree),
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of `pid` and its children, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for process in process_tree(pid):
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def dies_with_us() -> None:
    """In a child, before exec: the kernel sends it SIGTERM when the benchmark dies, so a
    killed run (a test's timeout) leaves no server holding connections (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


@dataclass
class Server:
    """`timetracker serve --workers N` as a child process."""

    env: dict[str, str]
    workers: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        env = {**self.env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "timetracker.ops.cli", "serve", "--workers", str(self.workers)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=dies_with_us,
        )

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.base}/api/v1/health", timeout=10) as reply:
                result: dict[str, Any] = json.loads(reply.read())
                return result
        except OSError:
            return None

    def wait_caught_up(self, progress: bool) -> float:
        """Wait until healthy and every read model has applied the whole log."""
        assert self.process is not None
        started = time.monotonic()
        deadline = started + START_TIMEOUT + CATCH_UP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}\n{self.output()}")
            health = self.health()
            if health is not None and health.get("status") == "healthy":
                lags = [p["lag_events"] for p in health["checks"]["projections"].values()]
                if progress and sys.stdout.isatty():
                    print(f"\r  read models catching up: lag {max(lags):,} events   ", end="")
                if max(lags) == 0:
                    seconds = time.monotonic() - started
                    if progress:
                        print(f"\r  read models caught up with the log in {seconds:.1f} s")
                    return seconds
            time.sleep(0.5)
        raise RuntimeError(f"read models did not catch up\n{self.output()}")

    def output(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()
            self.log = None


@contextlib.contextmanager
def bare_server(workers: int, env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """The bare aiohttp app on `workers` processes, with its I/O floor on the server's
    database and Redis (`env`); yields its port and pid."""
    port = free_port()
    floor = ["--database-url", env["DATABASE_URL"], "--redis-url", env["REDIS_URL"]]
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "bench.bare", "--port", str(port), "--workers", str(workers)),
            *(*floor, "--redis-prefix", env["REDIS_PREFIX"] + "floor:"),
        ],
        stdin=subprocess.DEVNULL,
        preexec_fn=dies_with_us,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/bare/10", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the bare aiohttp app did not start") from None
                time.sleep(0.1)
        time.sleep(0.5 if workers > 1 else 0)  # let every process bind
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


# --- scenarios ----------------------------------------------------------------------------


class Scenarios:
    """The request sources of every scenario, for one server port."""

    def __init__(self, data: DataSet, shape: Shape, port: int) -> None:
        self.data = data
        self.port = port
        self.today = datetime.now(UTC).date()
        self.shape = shape

    def _rotating(self, requests: list[bytes], expected: frozenset[int]) -> Any:
        def source(index: int) -> Next:
            cycle = itertools.cycle(requests[index % len(requests) :] + requests)
            return lambda: (next(cycle), expected)

        return source

    def _day(self, days_ago: int) -> str:
        return (self.today - timedelta(days=days_ago)).isoformat()

    def projects(self) -> Any:
        path = "/api/v1/projects?per_page=50"
        requests = [build_request("GET", path, self.port, t) for t in self.data.user_tokens]
        return self._rotating(requests, OK)

    def time_entries(self) -> Any:
        requests = []
        for n, token in enumerate(self.data.user_tokens):
            for project in self.data.project_ids[n % 3 :: 3]:
                path = (
                    f"/api/v1/time-entries?per_page=50&start_date={self._day(29)}"
                    f"&end_date={self._day(0)}&project_id={project}"
                )
                requests.append(build_request("GET", path, self.port, token))
        random.Random(3).shuffle(requests)
        return self._rotating(requests, OK)

    def time_entries_page(self) -> Any:
        """The entries page without filters (a user's own entries, latest first): the load
        of the comparison with the service this one replaces."""
        path = "/api/v1/time-entries"
        requests = [build_request("GET", path, self.port, t) for t in self.data.user_tokens]
        return self._rotating(requests, OK)

    def summary(self) -> Any:
        days = self.shape.days
        path = f"/api/v1/reports/summary?start_date={self._day(days - 1)}&end_date={self._day(0)}"
        return self._rotating([build_request("GET", path, self.port, self.data.admin_token)], OK)

    def timer_status(self) -> Any:
        path = "/api/v1/timer/status"
        requests = [build_request("GET", path, self.port, t) for t in self.data.user_tokens]
        return self._rotating(requests, OK)

    def create_entry(self) -> Any:
        data, port = self.data, self.port
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

        def source(index: int) -> Next:
            rng = random.Random(index)

            def next_request() -> tuple[bytes, frozenset[int]]:
                project = data.project_ids[rng.randrange(len(data.project_ids))]
                tasks: list[int | None] = [*data.tasks_by_project.get(project, [])] or [None]
                start = today - timedelta(days=rng.randrange(1, 30), hours=-9 - rng.random() * 8)
                body = {
                    "project_id": project,
                    "task_id": tasks[rng.randrange(len(tasks))],
                    "start_time": start.isoformat().replace("+00:00", "Z"),
                    "end_time": (start + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
                    "notes": "bench write",
                    "tags": "bench",
                }
                token = data.user_tokens[rng.randrange(len(data.user_tokens))]
                return build_request("POST", "/api/v1/time-entries", port, token, body), CREATED

            return next_request

        return source

    def timer_start_stop(self, connections: int) -> Any:
        """Each connection owns some users and alternates start/stop for each in turn."""
        data, port = self.data, self.port

        def source(index: int) -> Next:
            owned = data.user_tokens[index::connections] or [
                data.user_tokens[index % len(data.user_tokens)]
            ]
            project = data.project_ids[index % len(data.project_ids)]
            steps = []
            for token in owned:
                body = {"project_id": project, "notes": "bench timer"}
                steps.append(
                    (build_request("POST", "/api/v1/timer/start", port, token, body), CREATED)
                )
                steps.append((build_request("POST", "/api/v1/timer/stop", port, token), OK))
            cycle = itertools.cycle(steps)
            return lambda: next(cycle)

        return source

    def stop_all_timers(self) -> None:
        """After the timer scenario: stop what a cut-short cycle left running."""
        for token in self.data.user_tokens:
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.port}/api/v1/timer/stop",
                data=b"",
                method="POST",
                headers={"Authorization": f"Bearer {token}"},
            )
            with contextlib.suppress(OSError):
                urllib.request.urlopen(request, timeout=10).close()


# --- one worker configuration -------------------------------------------------------------


async def run_scenarios(
    scenarios: Scenarios,
    args: argparse.Namespace,
    server: Server,
    bare: tuple[int, int],
    store_env: dict[str, str],
) -> dict[str, Any]:
    """Every scenario against the running server, each next to its ceiling.

    A read is followed by the bare aiohttp app answering a body of the same size; a write
    is preceded by the bare save loop. Measured side by side, a ratio keeps its meaning on
    a machine whose load changes from minute to minute.
    """
    assert server.process is not None
    results: dict[str, Any] = {}
    c, w, d = args.connections, args.warmup, args.duration
    loop = asyncio.get_running_loop()

    bare_port, bare_pid = bare
    server_pid = server.process.pid

    def per_request(cpu: float, outcome: Outcome) -> float:
        return round(cpu * 1000 / outcome.answered, 3) if outcome.answered else float("nan")

    async def one(name: str, outcome_coro: Any) -> Outcome:
        print(f"  {name} ...", end="", flush=True)
        cpu = cpu_seconds(server_pid)
        outcome: Outcome = await outcome_coro
        cpu = cpu_seconds(server_pid) - cpu
        results[name] = {
            **outcome.as_dict(),
            "rss": server_rss(server_pid),
            "server_cpu_ms_per_request": per_request(cpu, outcome),
        }
        print(
            f" {outcome.rate:,.0f} req/s, p50 {outcome.percentile(0.5):.1f} ms,"
            f" p99 {outcome.percentile(0.99):.1f} ms, {outcome.errors} errors"
        )
        return outcome

    async def bare_app(name: str, route: str) -> dict[str, Any]:
        size = max(2, int(results[name]["body_bytes"]))
        request = build_request("GET", f"/{route}/{size}", bare_port)

        def source(index: int) -> Next:
            return lambda: (request, OK)

        cpu = cpu_seconds(bare_pid)
        bare = await drive(f"{route}_{name}", bare_port, c, source, w, d)
        cpu = cpu_seconds(bare_pid) - cpu
        return {
            "kind": "http",
            **bare.as_dict(),
            "server_cpu_ms_per_request": per_request(cpu, bare),
        }

    async def http_ceiling(name: str) -> None:
        ceiling = results[name]["ceiling"] = await bare_app(name, "bare")
        floor = results[name]["floor"] = await bare_app(name, "floor")
        share = results[name]["requests_per_second"] / floor["requests_per_second"]
        print(
            f"    bare aiohttp, {ceiling['body_bytes']:,}-byte body: "
            f"{ceiling['requests_per_second']:,.0f} req/s; with the rate-limit script and"
            f" a query: {floor['requests_per_second']:,.0f} req/s; {name} at {share:.0%}"
            " of that floor"
        )

    async def store_ceiling() -> dict[str, Any]:
        rate = await loop.run_in_executor(
            None, saves_per_second, store_env, server.workers, args.store_threads, w, d
        )
        print(f"  bare save loop, {server.workers} x {args.store_threads} threads: {rate:,.0f}/s")
        return {"kind": "store", "requests_per_second": round(rate, 1)}

    for name in [n for n in args.only or READS if n in READS]:
        await one(name, drive(name, server.port, c, getattr(scenarios, name)(), w, d))
        await http_ceiling(name)
    if args.only:  # a quick look at some scenarios: no paced runs
        if "create_entry" in args.only:
            ceiling = await store_ceiling()
            writes = scenarios.create_entry()
            await one("create_entry", drive("create_entry", server.port, c, writes, w, d))
            results["create_entry"]["ceiling"] = ceiling
        return results
    # The report's own latency: one request at a time.
    await one("summary_single", drive("summary_single", server.port, 1, scenarios.summary(), w, d))

    ceiling = await store_ceiling()
    await one("create_entry", drive("create_entry", server.port, c, scenarios.create_entry(), w, d))
    results["create_entry"]["ceiling"] = ceiling
    ceiling = await store_ceiling()
    owners = min(c, len(scenarios.data.user_tokens))  # a user's start and stop never race
    timers = scenarios.timer_start_stop(owners)
    await one("timer_start_stop", drive("timer_start_stop", server.port, owners, timers, w, d))
    results["timer_start_stop"]["ceiling"] = ceiling
    await loop.run_in_executor(None, scenarios.stop_all_timers)

    # Reads below saturation (half the idle rate), alone and while writes run.
    paced = max(1.0, results["time_entries"]["requests_per_second"] * args.paced_fraction)
    entries = scenarios.time_entries
    idle = await one(
        "time_entries_paced_idle",
        drive("time_entries_paced_idle", server.port, c, entries(), w, d, rate=paced),
    )
    loaded, writes = await asyncio.gather(
        drive("time_entries_paced_under_writes", server.port, c, entries(), w, d, rate=paced),
        drive(
            "writes_alongside", server.port, args.write_connections, scenarios.create_entry(), w, d
        ),
    )
    for outcome in (loaded, writes):
        results[outcome.name] = {**outcome.as_dict(), "rss": server_rss(server_pid)}
    print(
        f"  time_entries_paced_under_writes: p99 {loaded.percentile(0.99):.1f} ms"
        f" (idle {idle.percentile(0.99):.1f} ms) with {writes.rate:,.0f} writes/s alongside"
    )
    return results


def run_configuration(
    workers: int,
    env: dict[str, str],
    store_env: dict[str, str],
    data: DataSet,
    shape: Shape,
    args: argparse.Namespace,
) -> dict[str, Any]:
    print(f"\n== {workers} worker(s); load average {loadavg()}")
    server = Server(env, workers)
    server.start()
    try:
        catch_up = server.wait_caught_up(progress=True)
        # Statistics as a long-running database has them (autovacuum would get there later).
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("ANALYZE")
        scenarios = Scenarios(data, shape, server.port)
        with bare_server(workers, env) as bare:
            results = asyncio.run(run_scenarios(scenarios, args, server, bare, store_env))
        assert server.process is not None
        rss_after = server_rss(server.process.pid)
    except BaseException:
        print(server.output(), file=sys.stderr)
        raise
    finally:
        server.stop()
    return {
        "workers": workers,
        "catch_up_seconds": round(catch_up, 1),
        "scenarios": results,
        "rss_after_run": rss_after,
        "load_average_after": loadavg(),
    }


# --- the table ----------------------------------------------------------------------------


def table(report: dict[str, Any]) -> str:
    lines = [
        "| scenario | workers | req/s | p50 ms | p99 ms | errors | RSS MiB | ceiling req/s"
        " | ratio | I/O floor req/s (ratio) | server CPU ms/req (bare, floor) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "projects": "GET /projects?per_page=50",
        "time_entries": "GET /time-entries (30 days, project)",
        "time_entries_page": "GET /time-entries (no filter)",
        "summary": f"GET /reports/summary ({report['shape']['days']} days)",
        "timer_status": "GET /timer/status",
        "create_entry": "POST /time-entries",
        "timer_start_stop": "POST /timer/start + /timer/stop",
    }
    for config in report["configurations"]:
        workers = config["workers"]
        for name, label in labels.items():
            if name not in config["scenarios"]:
                continue  # not measured (--only)
            result = config["scenarios"][name]
            ceiling = result["ceiling"]["requests_per_second"]
            kind = result["ceiling"]["kind"]
            ratio = result["requests_per_second"] / ceiling if ceiling else float("nan")
            errors = result["errors"]
            if result.get("read_your_writes_timeouts"):
                errors = f"{errors} (+{result['read_your_writes_timeouts']} RYW timeouts)"
            cpu = f"{result['server_cpu_ms_per_request']:.2f}"
            floor = "—"
            if kind == "http":
                below = result["floor"]
                cpu += (
                    f" ({result['ceiling']['server_cpu_ms_per_request']:.2f},"
                    f" {below['server_cpu_ms_per_request']:.2f})"
                )
                floor = (
                    f"{below['requests_per_second']:,.0f}"
                    f" ({result['requests_per_second'] / below['requests_per_second']:.0%})"
                )
            lines.append(
                f"| {label} | {workers} | {result['requests_per_second']:,.0f} |"
                f" {result['p50_ms']:.1f} | {result['p99_ms']:.1f} | {errors} |"
                f" {result['rss']['max_serving_mb']:.0f} | {ceiling:,.0f} ({kind}) |"
                f" {ratio:.0%} | {floor} | {cpu} |"
            )
        if "summary_single" not in config["scenarios"]:
            continue
        single = config["scenarios"]["summary_single"]
        lines.append(
            f"| {labels['summary']}, 1 connection | {workers} |"
            f" {single['requests_per_second']:,.0f} | {single['p50_ms']:.1f} |"
            f" {single['p99_ms']:.1f} | {single['errors']} |"
            f" {single['rss']['max_serving_mb']:.0f} |"
            f" — | — | — | {single['server_cpu_ms_per_request']:.2f} |"
        )
        idle = config["scenarios"]["time_entries_paced_idle"]
        loaded = config["scenarios"]["time_entries_paced_under_writes"]
        writes = config["scenarios"]["writes_alongside"]
        lines.append(
            f"| GET /time-entries paced at {idle['requests_per_second']:,.0f}/s, alone → with"
            f" {writes['requests_per_second']:,.0f} writes/s | {workers} | — |"
            f" {idle['p50_ms']:.1f} → {loaded['p50_ms']:.1f} |"
            f" {idle['p99_ms']:.1f} → {loaded['p99_ms']:.1f} |"
            f" {idle['errors'] + loaded['errors'] + writes['errors']} |"
            f" {loaded['rss']['max_serving_mb']:.0f} | — |"
            f" p99 x{loaded['p99_ms'] / idle['p99_ms']:.2f} | — | — |"
        )
    return "\n".join(lines)


def goals(report: dict[str, Any]) -> list[str]:
    """Each goal with what this run measured, per worker count."""
    lines = []
    for config in report["configurations"]:
        workers, found = config["workers"], config["scenarios"]
        if "summary_single" not in found:  # only some reads measured (--only)
            for name in READS:
                if name in found:
                    share = (
                        found[name]["requests_per_second"]
                        / found[name]["floor"]["requests_per_second"]
                    )
                    lines.append(f"{workers} worker(s): {name}: {share:.0%} of its I/O floor")
            continue
        reads = [
            found[n]["requests_per_second"] / found[n]["ceiling"]["requests_per_second"]
            for n in READS
        ]
        floors = [
            found[n]["floor"]["requests_per_second"] / found[n]["ceiling"]["requests_per_second"]
            for n in READS
        ]
        shares = {
            n: found[n]["requests_per_second"] / found[n]["floor"]["requests_per_second"]
            for n in READS
        }
        writes = [
            found[n]["requests_per_second"] / found[n]["ceiling"]["requests_per_second"]
            for n in WRITES
        ]
        p99 = max(found[n]["p99_ms"] for n in READS)
        errors = sum(found[n]["errors"] + found[n]["read_your_writes_timeouts"] for n in WRITES)
        rss = max(s["rss"]["max_serving_mb"] for s in found.values())
        under = found["time_entries_paced_under_writes"]["p99_ms"]
        idle = found["time_entries_paced_idle"]["p99_ms"]
        checks = [
            (
                "reads >= 40% of bare aiohttp",
                f"{min(reads):.0%}-{max(reads):.0%} (the I/O floor itself:"
                f" {min(floors):.0%}-{max(floors):.0%})",
                min(reads) >= GOALS["read_ratio"],
            ),
            (
                "reads >= 70% of their I/O floor",
                ", ".join(f"{n} {share:.0%}" for n, share in shares.items()),
                min(shares.values()) >= GOALS["read_floor_share"],
            ),
            (
                "read p99 <= 50 ms at 32 connections",
                f"{p99:.0f} ms (worst read)",
                p99 <= GOALS["read_p99_ms"],
            ),
            (
                "summary p50 <= 5 ms",
                f"{found['summary_single']['p50_ms']:.1f} ms (1 connection)",
                found["summary_single"]["p50_ms"] <= GOALS["summary_p50_ms"],
            ),
            (
                "writes >= 60% of the bare event store",
                f"{min(writes):.0%}-{max(writes):.0%}",
                min(writes) >= GOALS["write_ratio"],
            ),
            ("zero write errors (read-your-writes on)", str(errors), errors == 0),
            ("RSS <= 250 MiB per process", f"{rss:.0f} MiB", rss <= GOALS["rss_mb"]),
            (
                "reads within 2x idle p99 under writes",
                f"x{under / idle:.2f}",
                under <= GOALS["p99_under_writes"] * idle,
            ),
        ]
        for goal, measured, met in checks:
            lines.append(f"{workers} worker(s): {goal}: {measured} {'met' if met else 'MISSED'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL role that may create databases (BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, e.g. 1,2")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--write-connections", type=int, default=8, help="writes alongside reads")
    parser.add_argument("--paced-fraction", type=float, default=0.5)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured")
    parser.add_argument("--store-threads", type=int, default=8, help="savers per process")
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        help=f"measure only these scenarios (of {', '.join(READS)}, create_entry), each next"
        " to its ceiling",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/latest.json"))
    parser.add_argument(
        "--run-id", default=uuid.uuid4().hex[:8], help="names the scratch databases and keys"
    )
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: servers stopped, scratch databases dropped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    shape = Shape(args.clients, args.projects, args.tasks, args.users, args.entries, args.days)
    worker_counts = [int(n) for n in args.workers.split(",")]
    run_id = args.run_id
    prefix = f"bench-{run_id}:"
    started = time.monotonic()
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "load_average_before": loadavg(),
        "shape": shape.__dict__,
        "connections": args.connections,
        "warmup_seconds": args.warmup,
        "measured_seconds": args.duration,
        "goals": GOALS,
    }
    print(f"Benchmark {run_id}: load average {loadavg()} on {os.cpu_count()} cores")
    try:
        with (
            scratch_database(args.admin_url, f"tt_bench_{run_id}") as database_url,
            scratch_database(args.admin_url, f"tt_bench_{run_id}_es") as store_url,
        ):
            settings = Settings(database_url=database_url, redis_url=args.redis_url)
            began = time.monotonic()
            data = seed(settings, shape)
            report["seed"] = {"events": data.events, "seconds": round(time.monotonic() - began, 1)}
            print(f"seeded {data.events:,} events in {report['seed']['seconds']} s")

            store_env = Settings(database_url=store_url).event_store_env()
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "REDIS_URL": args.redis_url,
                "REDIS_PREFIX": prefix,
                "RATE_LIMIT_PER_MINUTE": NO_LIMIT,
                "RATE_LIMIT_PER_HOUR": NO_LIMIT,
                "PYTHONUNBUFFERED": "1",
            }
            report["configurations"] = [
                run_configuration(n, env, store_env, data, shape, args) for n in worker_counts
            ]
    finally:
        delete_keys(args.redis_url, prefix)
    report["load_average_after"] = loadavg()
    report["total_seconds"] = round(time.monotonic() - started, 1)
    report["table"] = table(report)
    report["goals_met"] = goals(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(report["table"])
    print()
    print("\n".join(report["goals_met"]))
    print(
        f"\nload average before {report['load_average_before']}, after"
        f" {report['load_average_after']} (1, 5, 15 min; {os.cpu_count()} cores);"
        f" {report['total_seconds']:.0f} s in all; figures in {args.out}"
    )
    return 0
