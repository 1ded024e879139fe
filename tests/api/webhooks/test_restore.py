"""A restore never re-sends the restored history: the dispatcher follows it again quietly."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser
from tests.api.webhooks.conftest import Receiver, StartApi, make_user, subscribe


async def _job(api: TestClient, admin: ApiUser, response: Any) -> dict[str, Any]:
    assert response.status == 202, await response.text()
    location = response.headers["Location"]
    async with asyncio.timeout(60):
        while True:
            polled = await api.get(location, headers=admin.headers)
            if polled.status == 200:
                job: dict[str, Any] = (await polled.json())["job"]
                if job["state"] != "running":
                    assert job["state"] == "done", job
                    return job
            await asyncio.sleep(0.05)


async def _dispatcher_caught_up(api: TestClient) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            response = await api.get("/api/v1/health")
            webhooks: dict[str, Any] = (await response.json())["checks"].get("webhooks", {})
            if response.status == 200 and webhooks.get("lag_events") == 0:
                return webhooks
            await asyncio.sleep(0.05)


async def test_a_restored_history_is_not_sent_again(
    start_api: StartApi, receiver: Receiver
) -> None:
    api = await start_api()
    admin = await make_user(api, "root", ["admin:all"], admin=True)
    await subscribe(api, admin, receiver.url, ["client.created"])
    for name in ("A", "B"):
        await api.post("/api/v1/clients", json={"name": name}, headers=admin.headers)
    await receiver.wait_for(2)
    backup = await _job(api, admin, await api.post("/api/v1/admin/backups", headers=admin.headers))
    await api.post("/api/v1/clients", json={"name": "C"}, headers=admin.headers)
    await receiver.wait_for(3)

    restore = await api.post(
        f"/api/v1/admin/restore/{backup['filename']}",
        json={"confirm": "RESTORE", "force": True},
        headers=admin.headers,
    )
    await _job(api, admin, restore)
    status = await _dispatcher_caught_up(api)
    assert status["pending_deliveries"] == 0
    await asyncio.sleep(0.3)
    assert len(receiver.accepted) == 3

    # The subscription is back from the restored history, and new events go out.
    response = await api.post("/api/v1/clients", json={"name": "D"}, headers=admin.headers)
    assert response.status == 201, await response.text()
    received = await receiver.wait_for(4)
    assert [d.json["data"]["name"] for d in received] == ["A", "B", "C", "D"]
