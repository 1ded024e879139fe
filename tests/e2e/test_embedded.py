"""`timetracker serve` with no DATABASE_URL or REDIS_URL: embedded PostgreSQL and Redis."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.service import TOKEN_LINE, Server, call, run_cli, service_env
from timetracker.http.settings import Settings
from timetracker.ops.embedded import POSTGRES_MAJOR, embedded_services

pytestmark = pytest.mark.e2e


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _leftover_servers(data_dir: Path) -> dict[str, int]:
    """Embedded servers still running for `data_dir` (name -> pid)."""
    found: dict[str, int] = {}
    postmaster = data_dir / "postgres" / "postmaster.pid"
    if postmaster.exists():
        pid = int(postmaster.read_text().splitlines()[0])
        if _pid_alive(pid):
            found["postgres"] = pid
    registry = data_dir / "redis" / "redis.db.settings"
    if registry.exists():
        pidfile = Path(json.loads(registry.read_text())["pidfile"])
        if pidfile.exists():
            pid = int(pidfile.read_text().strip())
            if _pid_alive(pid):
                found["redis"] = pid
    return found


def _stop_leftovers(data_dir: Path) -> None:
    """Stop servers a failed test left behind (PostgreSQL: fast shutdown)."""
    for name, pid in _leftover_servers(data_dir).items():
        os.kill(pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """The data directory; whatever runs there is stopped at the end, pass or fail."""
    folder = tmp_path / "data"
    try:
        yield folder
    finally:
        _stop_leftovers(folder)


def test_embedded_services_keep_their_data_across_restarts(data_dir: Path, tmp_path: Path) -> None:
    env = service_env(TIMETRACKER_DATA_DIR=str(data_dir))
    server = Server(env, tmp_path)
    api = f"{server.base_url}/api/v1"
    try:
        server.start()
        admin = server.admin_token()
        assert admin is not None, f"first start printed no admin token\n{server.output()}"
        assert (data_dir / "postgres" / "PG_VERSION").exists()
        created = call("POST", f"{api}/projects", admin, {"name": "Kept"})
        assert created.status == 201, created.body

        # The CLI joins the database the server is using.
        issued = run_cli(
            env, tmp_path, "tokens", "create", "--user", "admin", "--scopes", "read:projects"
        )
        reader = issued.stdout.strip().splitlines()[-1]
        assert TOKEN_LINE.match(reader), issued.stdout
        assert call("GET", f"{api}/projects", reader).status == 200

        assert server.stop() == 0, server.output()
        assert _leftover_servers(data_dir) == {}, "serve left embedded servers running"

        # ... and starts it itself when no server runs, stopping it again afterwards.
        listed = run_cli(env, tmp_path, "tokens", "list")
        assert reader[:8] in listed.stdout and "bootstrap" in listed.stdout
        assert _leftover_servers(data_dir) == {}, "the CLI left embedded PostgreSQL running"

        server.start()
        assert server.admin_token() is None, server.output()
        projects = call("GET", f"{api}/projects", reader)
        assert projects.status == 200, projects.body
        assert [p["name"] for p in projects.body["projects"]] == ["Kept"]
        health = call("GET", f"{api}/health")
        assert health.body["checks"]["redis"]["status"] == "up", health.body
        assert server.stop() == 0, server.output()
    finally:
        server.kill()


def test_the_embedded_postgresql_is_the_major_version_compose_runs(data_dir: Path) -> None:
    """One PostgreSQL major version for the embedded mode and docker-compose.yml (whose
    image `tests/unit/test_docker_files.py` checks against the same constant)."""
    with (
        embedded_services(Settings(data_dir=data_dir), need_redis=False) as settings,
        psycopg.connect(settings.conninfo) as conn,
    ):
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    assert int(row[0]) // 10000 == POSTGRES_MAJOR == 18
