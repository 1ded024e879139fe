"""Operators: projection runners apart from the API, failover, and the projections CLI."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.service import Server, call, run_cli, timetracker_command, wait_for
from timetracker.projections.registry import all_projections, redis_projections

pytestmark = pytest.mark.e2e
VISIBLE_WITHIN = 15.0
PROJECTIONS = [p.name for p in all_projections()] + [p.name for p in redis_projections()]
PARTITIONED = ["time_entries", "report_rollups"]  # read models rebuilt in shares


@contextmanager
def projection_runner(env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """`timetracker projections run` as a child process (killed afterwards)."""
    log = (cwd / f"runner-{time.monotonic_ns()}.log").open("w")
    process = subprocess.Popen(
        [timetracker_command(), "projections", "run"],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "Running projections" in line, line
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        log.close()


def _visible(server: Server, token: str, path: str) -> bool:
    url = f"{server.base_url}{path}"
    return wait_for(lambda: call("GET", url, token).status == 200, VISIBLE_WITHIN)


def test_a_standby_runner_takes_over_when_the_leader_is_killed(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    api = Server(configured_env, tmp_path, args=("--no-projections",))
    with projection_runner(configured_env, tmp_path) as leader:
        try:
            api.start()
            token = api.admin_token()
            assert token is not None, api.output()
            assert _visible(api, token, "/api/v1/users/me")
            with projection_runner(configured_env, tmp_path):
                first = call("POST", f"{api.base_url}/api/v1/projects", token, {"name": "One"})
                assert first.status == 201, first.body
                assert "X-Read-Your-Writes" not in first.headers
                leader.send_signal(signal.SIGKILL)
                leader.wait(timeout=10)
                for n in range(3):
                    created = call(
                        "POST", f"{api.base_url}/api/v1/projects", token, {"name": f"After {n}"}
                    )
                    assert created.status == 201, created.body
                    project = created.body["project"]["id"]
                    assert _visible(api, token, f"/api/v1/projects/{project}")
                status = run_cli(configured_env, tmp_path, "projections", "status")
                lines = status.stdout.splitlines()[1:]
                rows = [line.split() for line in lines if line.split()[0] in PROJECTIONS]
                (webhooks,) = [line for line in lines if line.startswith("dispatcher ")]
                assert " running (" in webhooks, status.stdout
                assert len(rows) == len(PROJECTIONS), status.stdout
                assert {row[-1] for row in rows} == {"running"}, status.stdout
                assert {row[3] for row in rows} == {row[2] for row in rows}, status.stdout
        finally:
            api.kill()


def test_the_projections_cli_rebuilds_and_verifies(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    api = Server(configured_env, tmp_path)
    try:
        api.start()
        token = api.admin_token()
        assert token is not None
        created = call("POST", f"{api.base_url}/api/v1/projects", token, {"name": "Kept"})
        assert created.status == 201
        rebuilt = run_cli(configured_env, tmp_path, "projections", "rebuild", "--all")
        done = re.findall(r"^rebuild (\w+): \d+ events in", rebuilt.stderr, re.MULTILINE)
        assert sorted(done) == sorted(PROJECTIONS), rebuilt.stderr
        verified = run_cli(configured_env, tmp_path, "projections", "verify")
        assert verified.stdout.count(": ok") == len(PROJECTIONS), verified.stdout
        listed = call("GET", f"{api.base_url}/api/v1/projects", token)
        assert [p["name"] for p in listed.body["projects"]] == ["Kept"]
        unknown = subprocess.run(
            [timetracker_command(), "projections", "rebuild", "nope"],
            env=configured_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert unknown.returncode == 2
        assert "Unknown projection nope" in unknown.stderr
    finally:
        api.kill()


def test_rebuilds_in_a_process_per_core_work_from_the_cli_and_from_a_serving_worker(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**configured_env, "REBUILD_PARTITION_MIN_EVENTS": "1"}  # any log is long enough
    api = Server(env, tmp_path)
    try:
        api.start()
        token = api.admin_token()
        assert token is not None
        project = call("POST", f"{api.base_url}/api/v1/projects", token, {"name": "Site"})
        assert project.status == 201
        for day in range(1, 13):
            entry = {
                "project_id": project.body["project"]["id"],
                "start_time": f"2024-05-{day:02d}T09:00:00Z",
                "end_time": f"2024-05-{day:02d}T10:30:00Z",
            }
            assert call("POST", f"{api.base_url}/api/v1/time-entries", token, entry).status == 201
        urls = [
            "/api/v1/time-entries?per_page=100",
            "/api/v1/reports/summary?start_date=2024-05-01&end_date=2024-05-31",
        ]
        before = [call("GET", f"{api.base_url}{url}", token).body for url in urls]

        rebuilt = run_cli(env, tmp_path, "projections", "rebuild", *PARTITIONED)
        assert sorted(re.findall(r"^rebuild (\w+): ", rebuilt.stderr, re.MULTILINE)) == sorted(
            PARTITIONED
        ), rebuilt.stderr
        for name in PARTITIONED:  # and as a job inside the serving process
            started = call("POST", f"{api.base_url}/api/v1/admin/projections/{name}/rebuild", token)
            assert started.status == 202, started.body
            job = started.body["job"]
            # Polled at 4/s: the server keeps the default 100/minute limit, which faster
            # polling of a rebuild slowed by a busy machine would reach (429, no "job").
            for _ in range(480):
                polled = call("GET", f"{api.base_url}{started.headers['Location']}", token)
                assert polled.status == 200, polled.body
                job = polled.body["job"]
                if job["state"] != "running":
                    break
                time.sleep(0.25)
            assert job["state"] == "done", job

        verified = run_cli(env, tmp_path, "projections", "verify", *PARTITIONED)
        assert verified.stdout.count(": ok") == len(PARTITIONED), verified.stdout
        assert [call("GET", f"{api.base_url}{url}", token).body for url in urls] == before
    finally:
        api.kill()
