"""A write whose read model lags past the wait still answers with success, not 404."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient

from tests.api.test_rate_limits import _user
from timetracker.http.keys import time_tracking_key
from timetracker.http.settings import Settings
from timetracker.projections.engine.service import ProjectionService
from timetracker.projections.registry import all_projections

ApiWith = Callable[..., Awaitable[TestClient]]


async def test_a_write_the_read_model_has_not_reached_answers_201_with_id_and_version(
    api_with: ApiWith, settings: Settings
) -> None:
    api = await api_with(run_projections=False, read_your_writes_timeout=0.2)
    loop = asyncio.get_running_loop()
    accounts = ProjectionService(
        api.app[time_tracking_key],
        [p for p in all_projections() if p.name == "accounts"],
        settings.conninfo,
    )
    await loop.run_in_executor(None, accounts.start)  # tokens work; projects lag behind
    try:
        boss = await _user(api, "boss", ["read:*", "write:*"])
        created = await api.post("/api/v1/projects", json={"name": "Late"}, headers=boss.headers)
    finally:
        await loop.run_in_executor(None, accounts.stop)
    assert created.status == 201, await created.text()
    assert created.headers["X-Read-Your-Writes"] == "timeout"
    body = await created.json()
    assert body["project"] == {"id": 1, "version": 1}
    assert created.headers["Location"] == "/api/v1/projects/1"
    missing = await api.get("/api/v1/projects/1", headers=boss.headers)
    assert missing.status == 404  # the read model really is behind
