"""`python -m bench` on a tiny data set for a few seconds, so the benchmark cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SCENARIOS = (
    "projects",
    "time_entries",
    "time_entries_page",
    "summary",
    "timer_status",
    "create_entry",
)


@pytest.fixture
def run_id() -> Iterator[str]:
    """The benchmark run's id; its scratch databases are dropped even if it was killed."""
    name = f"smoke{uuid.uuid4().hex[:8]}"
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


def test_the_benchmark_runs_end_to_end_and_reports_every_scenario(
    tmp_path: Path, run_id: str
) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "BENCH_DATABASE_URL": ADMIN_URL, "BENCH_REDIS_URL": REDIS_URL}
    for name in ("DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "HOST", "PORT"):
        env.pop(name, None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            *("--entries", "1500", "--users", "4", "--projects", "3", "--tasks", "6"),
            *("--clients", "1", "--days", "10", "--workers", "1,2", "--connections", "4"),
            *("--write-connections", "2", "--store-threads", "2"),
            *("--warmup", "0.2", "--duration", "0.6", "--out", str(out), "--run-id", run_id),
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

    assert report["seed"]["events"] >= 1500
    assert [c["workers"] for c in report["configurations"]] == [1, 2]
    for config in report["configurations"]:
        for name in (*SCENARIOS, "timer_start_stop", "time_entries_paced_under_writes"):
            result = config["scenarios"][name]
            assert result["requests"] > 0, (config["workers"], name, result)
            assert result["errors"] == 0, (config["workers"], name, result)
        for name in (*SCENARIOS, "timer_start_stop"):
            ceiling = config["scenarios"][name]["ceiling"]
            assert ceiling["requests_per_second"] > 0, (config["workers"], name, ceiling)
        for name in ("projects", "time_entries", "time_entries_page", "summary", "timer_status"):
            floor = config["scenarios"][name]["floor"]  # the reads' I/O floor, answered
            assert floor["requests"] > 0 and floor["errors"] == 0, (config["workers"], name, floor)
        assert config["rss_after_run"]["max_serving_mb"] > 0
    # One table: a row per scenario and worker count, with its ceiling and ratio.
    table = report["table"]
    assert table in done.stdout
    assert table.count("(http)") == 10 and table.count("(store)") == 4, table
