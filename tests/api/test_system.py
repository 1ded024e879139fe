"""/api/v1/info and /api/v1/health: open without a token; health tells the truth."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib import metadata

import psycopg
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser
from tests.api.helpers import RFC3339_UTC, created
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.http.settings import Settings
from timetracker.ops.accounts import register_user
from timetracker.projections.engine.tracking import wait_for

ApiWith = Callable[..., Awaitable[TestClient]]
FOUNDATION_PROJECTIONS = {"accounts", "clients", "projects"}


async def _event_store_head(settings: Settings) -> int:
    async with await psycopg.AsyncConnection.connect(settings.conninfo) as conn:
        cursor = await conn.execute("SELECT max(notification_id) FROM timetracking_events")
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0] or 0)


async def test_info_needs_no_token_and_names_version_docs_and_endpoints(api: TestClient) -> None:
    response = await api.get("/api/v1/info")

    assert response.status == 200
    body = await response.json()
    endpoints = body.pop("endpoints")
    assert body == {
        "api_version": "v1",
        "app_version": metadata.version("timetracker-es"),
        "documentation_url": "/api/docs",
        "openapi_url": "/api/docs/openapi.json",
    }
    # Every group is listed (tests/api/test_openapi_details.py); these among them.
    assert {
        "projects": "/api/v1/projects",
        "clients": "/api/v1/clients",
        "users": "/api/v1/users",
        "health": "/api/v1/health",
        "time-entries": "/api/v1/time-entries",
        "time_entries": "/api/v1/time-entries",  # as the API document names it
    }.items() <= endpoints.items()


async def test_info_and_health_ignore_even_an_invalid_token(api: TestClient) -> None:
    bad = {"Authorization": "Bearer tt_" + "x" * 32}

    assert (await api.get("/api/v1/info", headers=bad)).status == 200
    assert (await api.get("/api/v1/health", headers=bad)).status == 200


async def test_health_reports_event_store_redis_and_each_projection_caught_up(
    api: TestClient, admin: ApiUser, settings: Settings
) -> None:
    await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    await created(api, "/api/v1/projects", {"name": "Site", "client_id": 1}, admin.headers)
    head = await _event_store_head(settings)
    # a write waits only for its own read models; let the others reach the head too
    assert await wait_for(api.app[read_pool_key], sorted(FOUNDATION_PROJECTIONS), head, 5.0)

    response = await api.get("/api/v1/health")

    assert response.status == 200
    assert "Retry-After" not in response.headers
    body = await response.json()
    assert set(body) == {"status", "timestamp", "checks"}
    assert body["status"] == "healthy"
    assert RFC3339_UTC.match(body["timestamp"]), body["timestamp"]
    checks = body["checks"]
    assert set(checks) == {"event_store", "redis", "projections", "webhooks"}
    assert checks["event_store"] == {"status": "up", "head": head}
    assert checks["redis"] == {"status": "up"}
    assert set(checks["projections"]) >= FOUNDATION_PROJECTIONS
    for name in FOUNDATION_PROJECTIONS:
        assert checks["projections"][name] == {"status": "up", "position": head, "lag_events": 0}


async def test_health_shows_how_far_each_projection_lags_the_event_store(
    api_with: ApiWith, settings: Settings
) -> None:
    client = await api_with(run_projections=False)
    store = client.app[time_tracking_key]
    loop = asyncio.get_running_loop()
    for username in ("ann", "bob", "cy"):
        await loop.run_in_executor(None, register_user, store, username, None, None, False)
    head = await _event_store_head(settings)
    assert head >= 3

    response = await client.get("/api/v1/health")

    assert response.status == 200
    projections = (await response.json())["checks"]["projections"]
    for name in FOUNDATION_PROJECTIONS:
        assert projections[name] == {"status": "up", "position": 0, "lag_events": head}


async def test_health_is_503_unhealthy_with_retry_after_when_redis_is_unreachable(
    api_with: ApiWith,
) -> None:
    client = await api_with(redis_url="redis://127.0.0.1:1/0")

    response = await client.get("/api/v1/health")

    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    body = await response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["redis"]["status"] == "down"
    assert body["checks"]["redis"]["error"]
    assert body["checks"]["event_store"]["status"] == "up"
