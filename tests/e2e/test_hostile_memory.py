"""SEC-3 on a real `timetracker serve`: about 1,000 hostile requests (the catalogue of
`tests/hostile.py`, twice) are all 4xx, and the server's resident memory grows < 50 MB."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.service import Server, call
from tests.hostile import catalogue

pytestmark = pytest.mark.e2e
ALLOWED_GROWTH = 50 * 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def test_a_thousand_hostile_requests_are_refused_and_memory_stays_flat(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**configured_env, "RATE_LIMIT_PER_MINUTE": "0", "RATE_LIMIT_PER_HOUR": "0"}
    server = Server(env, tmp_path)
    try:
        await asyncio.to_thread(server.start)
        token = server.admin_token()
        assert token is not None and server.process is not None
        api = f"{server.base_url}/api/v1"
        project = call("POST", f"{api}/projects", token, {"name": "P"}).body["project"]["id"]
        client = call("POST", f"{api}/clients", token, {"name": "C"}).body["client"]["id"]
        task = call("POST", f"{api}/tasks", token, {"project_id": project, "name": "T"})
        entry = call(
            "POST",
            f"{api}/time-entries",
            token,
            {
                "project_id": project,
                "start_time": "2024-01-15T09:00:00Z",
                "end_time": "2024-01-15T10:00:00Z",
            },
        )
        requests = catalogue(
            project, entry.body["time_entry"]["id"], task.body["task"]["id"], client
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        statuses: list[int] = []
        limit = asyncio.Semaphore(8)

        async with aiohttp.ClientSession(server.base_url) as session:

            async def send(
                method: str, path: str, body: bytes | None, extra: dict[str, str]
            ) -> None:
                async with limit:
                    data = None if body is None else io.BytesIO(body)
                    async with session.request(
                        method, path, data=data, headers={**headers, **extra}
                    ) as response:
                        await response.read()
                        statuses.append(response.status)

            for _ in range(50):  # warm up: pools, caches, the first of everything
                await send("GET", "/api/v1/projects", None, {})
            before = rss_bytes(server.process.pid)
            for _ in range(2):
                await asyncio.gather(*[send(h.method, h.path, h.body, h.headers) for h in requests])
            after = rss_bytes(server.process.pid)

        hostile = statuses[50:]
        assert len(hostile) >= 1000
        assert [s for s in hostile if not 400 <= s < 500] == []
        growth = after - before
        print(
            f"hostile: {len(hostile)} requests, RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB"
        )
        assert growth < ALLOWED_GROWTH, f"RSS {before / 2**20:.0f} -> {after / 2**20:.0f} MiB"
    finally:
        await asyncio.to_thread(server.kill)
