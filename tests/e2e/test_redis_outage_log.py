"""Redis down under a running `serve`: the outage is logged once per party, summarised now
and then, and logged once when Redis is back; no flood of tracebacks."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.service import Server, call, free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ACCESS_LINE = re.compile(r'aiohttp\.access: \S+ "[A-Z]+ ')
OUTAGE_SECONDS = 20.0
# Each party that talks to Redis (per process: the two Redis runners, the position listener,
# the request path) logs the outage once and a summary after 10 s: a handful of lines each.
MOST_LINES = 30


class RedisServer:
    """A redis-server of this test's own, on a port of its own, without persistence."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--dir", str(self.folder), "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(self._answers, within=10)

    def _answers(self) -> bool:
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _log_lines(lines: list[str]) -> list[str]:
    """What the server logged, without its access log."""
    return [line for line in lines if not ACCESS_LINE.search(line)]


def test_redis_down_is_logged_once_summarised_and_logged_back(
    configured_env: dict[str, str], tmp_path: Path, own_redis: RedisServer
) -> None:
    env = {
        **configured_env,
        "REDIS_URL": own_redis.url,
        "RATE_LIMIT_PER_MINUTE": "0",
        "RATE_LIMIT_PER_HOUR": "0",
    }
    server = Server(env, tmp_path)
    try:
        server.start()
        token = server.admin_token()
        assert token is not None
        api = f"{server.base_url}/api/v1"
        project = call("POST", f"{api}/projects", token, {"name": "Outage"}).body["project"]

        stop = threading.Event()

        def traffic() -> None:  # what clients keep doing meanwhile
            while not stop.is_set():
                call("GET", f"{api}/timer/status", token)
                call("GET", f"{api}/reports/summary", token)
                call("GET", f"{api}/projects", token)
                time.sleep(0.05)

        before = len(server.stderr)
        own_redis.kill()
        clients = [threading.Thread(target=traffic) for _ in range(2)]
        for client in clients:
            client.start()
        try:
            time.sleep(OUTAGE_SECONDS)
            # Writes go on while Redis is down.
            entry = {
                "project_id": project["id"],
                "start_time": "2024-01-15T09:00:00Z",
                "end_time": "2024-01-15T10:00:00Z",
            }
            assert call("POST", f"{api}/time-entries", token, entry).status == 201
            during = _log_lines(server.stderr[before:])
            own_redis.start()
            assert wait_for(lambda: call("GET", f"{api}/health").status == 200, within=60)
            time.sleep(2)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=30)
        after = _log_lines(server.stderr[before:])

        assert len(during) <= MOST_LINES, "\n".join(during)
        assert not [line for line in during if line.startswith("Traceback")], "\n".join(during)
        assert any("failed" in line and "retrying quietly" in line for line in during), during
        assert any("still failing after" in line for line in during), "\n".join(during)
        assert any("works again after" in line for line in after), "\n".join(after)
    finally:
        server.kill()
