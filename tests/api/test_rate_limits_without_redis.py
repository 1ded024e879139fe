"""When Redis goes away, requests keep being served and limits hold per process."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis
from aiohttp.test_utils import TestClient

from tests.api.test_rate_limits import _user, stored_windows
from tests.e2e.service import free_port

ApiWith = Callable[..., Awaitable[TestClient]]


class PrivateRedis:
    """A redis-server of the test's own on a free port, which the test can stop and start."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed: this test needs a real one"
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "private redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_limits_fall_back_to_the_process_and_return_to_redis(
    api_with: ApiWith, private_redis: PrivateRedis
) -> None:
    api = await api_with(
        redis_url=private_redis.url, rate_limit_per_minute=3, rate_limit_per_hour=0
    )
    user = await _user(api, "steady", ["read:*"])

    async def statuses(n: int) -> list[int]:
        return [(await api.get("/api/v1/projects", headers=user.headers)).status for _ in range(n)]

    assert await statuses(4) == [200, 200, 200, 429]
    private_redis.stop()
    # Served without Redis; the process keeps its own windows, which start from the last
    # state Redis reported: an outage hands out no fresh quota.
    assert await statuses(4) == [429, 429, 429, 429]
    health = await api.get("/api/v1/health")
    assert health.status == 503
    assert (await health.json())["checks"]["redis"]["status"] == "down"

    private_redis.start()
    await asyncio.sleep(1.1)  # the limiter retries Redis after a second
    assert (await api.get("/api/v1/health")).status == 200
    assert await statuses(4) == [200, 200, 200, 429]
    client = redis.Redis.from_url(private_redis.url)
    (key,) = list(client.scan_iter(match="*rl:{token:*"))
    assert stored_windows(client, key)[60][1] == 3  # counted in Redis again
    client.close()
