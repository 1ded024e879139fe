"""PostgreSQL connections: an idle `serve` holds few, small pools carry the benchmark's load,
and a server out of connections is one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.e2e.service import CLI_TIMEOUT, Server, timetracker_command
from timetracker.ops.workers import default_workers

pytestmark = pytest.mark.e2e

IDLE_BUDGET = 16  # connections of one idle `serve` with the default number of workers
ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SMALL_POOLS = {"DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "0", "READ_POOL_SIZE": "2"}


def _connections(conninfo: str, application: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_an_idle_serve_with_default_workers_holds_at_most_16_connections(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    # libpq names every connection of the server's processes after PGAPPNAME.
    application = f"tt-budget-{uuid.uuid4().hex[:8]}"
    server = Server({**configured_env, "PGAPPNAME": application}, tmp_path)
    try:
        server.start()
        time.sleep(3)  # the projections process has started its runners
        counts = []
        for _ in range(5):
            counts.append(_connections(configured_env["DATABASE_URL"], application))
            time.sleep(1)
        assert default_workers() >= 1
        assert max(counts) <= IDLE_BUDGET, (counts, server.output())
        assert min(counts) > 0
    finally:
        server.kill()


@pytest.fixture
def run_id() -> Iterator[str]:
    """The benchmark run's id; its scratch databases are dropped even if it was killed."""
    name = f"pools{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        for database in (f"tt_bench_{name}", f"tt_bench_{name}_es"):
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"bench-{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.timeout(600)
def test_the_benchmark_load_runs_without_errors_on_small_pools(tmp_path: Path, run_id: str) -> None:
    """Two workers with two event-store and two read connections each (the minimum a
    worker gets): every scenario of `python -m bench` answers without an error and every
    write sees its read models in time."""
    out = tmp_path / "bench.json"
    env = {**os.environ, "BENCH_DATABASE_URL": ADMIN_URL, "BENCH_REDIS_URL": REDIS_URL}
    for name in ("DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "HOST", "PORT"):
        env.pop(name, None)
    env.update(SMALL_POOLS)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            *("--entries", "1500", "--users", "8", "--projects", "3", "--tasks", "6"),
            *("--clients", "1", "--days", "10", "--workers", "2", "--connections", "16"),
            *("--write-connections", "8", "--store-threads", "2"),
            *("--warmup", "0.5", "--duration", "2", "--out", str(out), "--run-id", run_id),
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
    report = json.loads(out.read_text())
    (config,) = report["configurations"]
    for name, result in config["scenarios"].items():
        assert result["requests"] > 0, (name, result)
        assert result["errors"] == 0, (name, result)
        assert result.get("read_your_writes_timeouts", 0) == 0, (name, result)


@pytest.fixture
def limited_role(configured_env: dict[str, str]) -> Iterator[str]:
    """A login role PostgreSQL lets hold one connection at a time."""
    role = f"tt_i24_limited_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 1").format(sql.Identifier(role))
        )
    try:
        yield role
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_postgresql_out_of_connections_is_one_line_that_says_what_to_do(
    configured_env: dict[str, str], tmp_path: Path, limited_role: str
) -> None:
    url = make_conninfo(configured_env["DATABASE_URL"], user=limited_role)
    with psycopg.connect(url):  # the role's one connection is taken
        for command in (("users", "create", "--username", "x"), ("serve",)):
            done = subprocess.run(
                [timetracker_command(), *command],
                env={**configured_env, "DATABASE_URL": url},
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT,
                check=False,
            )
            assert done.returncode == 2, (done.stdout, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, done.stderr
            assert "too many connections for role" in lines[0], lines
            assert "max_connections" in lines[0] and "Connection budget" in lines[0], lines
