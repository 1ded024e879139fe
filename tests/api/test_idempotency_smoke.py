"""Idempotency-Key on POST: replays, refusals, and concurrent duplicates."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser


async def test_the_same_key_and_body_replays_the_first_response(
    api: TestClient, admin: ApiUser
) -> None:
    headers = {**admin.headers, "Idempotency-Key": "k-1"}
    first = await api.post("/api/v1/clients", json={"name": "Acme"}, headers=headers)
    second = await api.post("/api/v1/clients", json={"name": "Acme"}, headers=headers)
    assert first.status == second.status == 201
    assert await first.json() == await second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    other = await api.post("/api/v1/clients", json={"name": "Other"}, headers=headers)
    assert other.status == 422
    assert (await other.json())["error_code"] == "idempotency_key_reused"
    listed = await (await api.get("/api/v1/clients", headers=admin.headers)).json()
    assert listed["pagination"]["total"] == 1


async def test_concurrent_duplicates_write_once(api: TestClient, admin: ApiUser) -> None:
    headers = {**admin.headers, "Idempotency-Key": "k-2"}
    responses = await asyncio.gather(
        *[api.post("/api/v1/projects", json={"name": "P"}, headers=headers) for _ in range(10)]
    )
    assert [r.status for r in responses] == [201] * 10
    ids = {(await r.json())["project"]["id"] for r in responses}
    assert len(ids) == 1
    listed = await (await api.get("/api/v1/projects", headers=admin.headers)).json()
    assert listed["pagination"]["total"] == 1
