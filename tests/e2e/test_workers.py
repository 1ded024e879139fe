"""`timetracker serve --workers 2`: two processes on one port, one set of projections."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.service import (
    Server,
    alive,
    call,
    children_of,
    projection_children,
    run_cli,
    timetracker_command,
)
from timetracker.projections.engine.group_runner import GROUP_LEAD
from timetracker.projections.registry import redis_projections

pytestmark = pytest.mark.e2e
CONNECTIONS = 24
GONE_WITHIN = 5.0


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets `pid` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def server_side_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the accepted socket of the connection from `client_port` (IPv4)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return int(fields[9])
    return None


def answering_worker(server: Server, workers: set[int]) -> int:
    """Open a new connection, get /health over it, and say which worker accepted it."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/api/v1/health")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        client_port = connection.sock.getsockname()[1]
        inode = server_side_inode(server.port, client_port)
        assert inode is not None, "the accepted socket is not in /proc/net/tcp"
        owners = [pid for pid in workers if inode in socket_inodes(pid)]
        assert len(owners) == 1, owners
        return owners[0]
    finally:
        connection.close()


def test_two_workers_share_the_port_and_the_projections_run_once(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    server = Server(configured_env, tmp_path, args=("--workers", "2"))
    try:
        server.start()
        assert server.process is not None
        token = server.admin_token()
        assert token is not None, server.output()
        workers = children_of(server.process.pid)
        assert len(workers) == 2, workers

        # The kernel spreads new connections over both workers.
        served = {answering_worker(server, workers) for _ in range(CONNECTIONS)}
        assert served == workers

        # Writes through both workers; every one is visible at once (read-your-writes).
        api = f"{server.base_url}/api/v1"
        ids = []
        for n in range(12):
            created = call("POST", f"{api}/projects", token, {"name": f"Project {n}"})
            assert created.status == 201, created.body
            ids.append(created.body["project"]["id"])
            entry = {
                "project_id": ids[-1],
                "start_time": "2024-01-15T09:00:00Z",
                "end_time": f"2024-01-15T{10 + n % 8}:00:00Z",
            }
            assert call("POST", f"{api}/time-entries", token, entry).status == 201
        listed = call("GET", f"{api}/projects?per_page=50", token)
        assert sorted(p["id"] for p in listed.body["projects"]) == sorted(ids)
        summary = call(
            "GET", f"{api}/reports/summary?start_date=2024-01-15&end_date=2024-01-15", token
        )
        assert summary.body["summary"]["total_entries"] == 12, summary.body

        # The PostgreSQL read models (run together) and each Redis one have exactly one
        # leader among the workers...
        names = [GROUP_LEAD]
        names += [configured_env["REDIS_PREFIX"] + p.name for p in redis_projections()]
        leading = [line for line in server.stderr if "Leading projection" in line]
        for name in names:
            assert sum(line.endswith(f"Leading projection {name}") for line in leading) == 1, (
                name,
                leading,
            )
        # ...and every read model equals a fresh replay of the log.
        verified = run_cli(configured_env, tmp_path, "projections", "verify")
        assert "mismatch" not in verified.stdout.lower(), verified.stdout

        assert server.stop(signal.SIGTERM) == 0, server.output()
        assert not any(alive(pid) for pid in workers), server.output()
    finally:
        server.kill()


def test_no_worker_listens_before_the_projections_run(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    """Worker 0 (whose child runs the projections) listens first, once they run; the others
    start after it. A worker listening earlier answered writes that waited for read models
    nobody ran yet (polling /health, as clients do, found it first)."""
    server = Server(configured_env, tmp_path, args=("--workers", "2"))
    starting = threading.Thread(target=server.start)
    try:
        starting.start()
        deadline = time.monotonic() + 60
        while server.process is None or len(children_of(server.process.pid)) < 2:
            assert time.monotonic() < deadline and starting.is_alive(), server.output()
            time.sleep(0.01)
        # The moment the second worker exists, the first one's projections already run.
        assert any(projection_children(w) for w in children_of(server.process.pid))
        starting.join()
        assert server.stop(signal.SIGTERM) == 0, server.output()
    finally:
        server.kill()
        starting.join()


def test_workers_die_with_a_killed_parent_and_a_restart_takes_the_port(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    server = Server(configured_env, tmp_path, args=("--workers", "2"))
    try:
        server.start()
        assert server.process is not None
        token = server.admin_token()
        assert token is not None
        workers = children_of(server.process.pid)
        assert len(workers) == 2, workers

        server.process.kill()
        server.process.wait(timeout=10)
        deadline = time.monotonic() + GONE_WITHIN
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers), "a worker outlived its killed parent"

        server.start()  # same port
        assert server.admin_token() is None, server.output()
        assert call("GET", f"{server.base_url}/api/v1/projects", token).status == 200
        assert server.stop(signal.SIGINT) == 0, server.output()
    finally:
        server.kill()


def test_a_taken_port_fails_like_one_process(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    first = Server(configured_env, tmp_path, args=("--workers", "1"))
    try:
        first.start()
        env = {**configured_env, "HOST": "127.0.0.1", "PORT": str(first.port)}
        second = subprocess.run(
            [timetracker_command(), "serve", "--workers", "2"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1, (second.stdout, second.stderr)
        assert "address already in use" in second.stderr.lower(), second.stderr
        assert call("GET", f"{first.base_url}/api/v1/health").status == 200
    finally:
        first.kill()
