"""A burst of concurrent requests on an exhausted token gets nothing through, on one worker
and on two: a Redis slow to answer is not an outage, so it never opens a fresh quota."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.service import Server, call

pytestmark = pytest.mark.e2e
BURST = 400
QUOTA = 100


async def _burst(url: str, token: str, n: int) -> Counter[int]:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> int:
            async with session.get(url, headers=headers) as response:
                await response.read()
                return response.status

        return Counter(await asyncio.gather(*[one() for _ in range(n)]))


@pytest.mark.parametrize("workers", [1, 2])
def test_400_concurrent_requests_on_an_exhausted_token_get_no_2xx(
    configured_env: dict[str, str], tmp_path: Path, workers: int
) -> None:
    # The hour window as tight as the minute's: nothing refills during the burst.
    env = {**configured_env, "RATE_LIMIT_PER_MINUTE": str(QUOTA), "RATE_LIMIT_PER_HOUR": "100"}
    server = Server(env, tmp_path, args=("--workers", str(workers)))
    try:
        server.start()
        token = server.admin_token()
        assert token is not None, server.output()
        url = f"{server.base_url}/api/v1/projects"
        used = [call("GET", url, token).status for _ in range(QUOTA)]
        assert used == [200] * QUOTA
        statuses = asyncio.run(_burst(url, token, BURST))
    finally:
        server.kill()
    assert sum(n for status, n in statuses.items() if 200 <= status < 300) == 0, statuses
    assert statuses[429] >= BURST * 0.9, statuses  # the rest: 503 if Redis is slow
    assert set(statuses) <= {429, 503}, statuses
