"""`X-Event-Position` on every authenticated response: the store position the answer reflects.

Writes name what they wrote; reads name the position of the read models they answered
from (so a lagging read model shows in the header); errors name the store's head; an
idempotent replay keeps the position of the first answer. Callers without a valid token
(open endpoints, 401s, unknown routes) never get it: it would show anyone the write rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import psycopg
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser
from tests.api.helpers import created
from tests.api.timekit import ENTRIES, EVERYTHING, SUMMARY, TASKS, new_entry, new_project
from tests.integration.test_report_rollups import follow_rollups
from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import CreateProject
from timetracker.http.keys import freshness_key, time_tracking_key
from timetracker.http.middlewares.positions import EVERY_READ_MODEL
from timetracker.http.settings import Settings
from timetracker.ops.accounts import (
    issue_token,
    operator_stamp,
    refresh_read_models,
    register_user,
)

ApiWith = Callable[..., Awaitable[TestClient]]


async def _head(settings: Settings) -> int:
    async with await psycopg.AsyncConnection.connect(settings.conninfo) as conn:
        cursor = await conn.execute("SELECT max(notification_id) FROM timetracking_events")
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0] or 0)


async def _position(
    api: TestClient, method: str, path: str, **kwargs: object
) -> tuple[int, int | None]:
    response = await api.request(method, path, **kwargs)  # type: ignore[arg-type]
    await response.read()
    position = response.headers.get("X-Event-Position")
    return response.status, None if position is None else int(position)


async def _admin_without_runners(
    api_with: ApiWith,
) -> tuple[TestClient, TimeTracking, dict[str, str]]:
    """An API whose read models move only when the test moves them, and an admin's headers."""
    api = await api_with(run_projections=False)
    store = api.app[time_tracking_key]
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, register_user, store, "alice", None, None, True)
    issued = await loop.run_in_executor(None, issue_token, store, "alice", ["admin:all"], "t", None)
    return api, store, {"Authorization": f"Bearer {issued.token}"}


async def test_writes_name_what_they_wrote_and_reads_at_least_that(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    headers = alice.headers
    body = {"project_id": project, "start_time": "2024-01-15T09:00:00Z"}

    status, written = await _position(
        api, "POST", ENTRIES, json={**body, "end_time": "2024-01-15T10:00:00Z"}, headers=headers
    )
    assert (status, written) == (201, await _head(settings))
    # once the read models have applied the write, every read names that position
    assert await api.app[freshness_key].wait_for(EVERY_READ_MODEL, written, 10.0)
    for path in (ENTRIES, f"{ENTRIES}/1"):
        assert await _position(api, "GET", path, headers=headers) == (200, written), path
    for path in (
        f"{SUMMARY}?start_date=2024-01-01",
        "/api/v1/timer/status",
        "/api/v1/projects",
        f"/api/v1/projects/{project}",
        "/api/v1/users/me",
    ):
        assert await _position(api, "GET", path, headers=headers) == (200, written), path
    status, edited = await _position(
        api, "PATCH", f"{ENTRIES}/1", json={"notes": "x"}, headers=headers
    )
    assert (status, edited) == (200, written + 1)
    status, same = await _position(
        api, "PATCH", f"{ENTRIES}/1", json={"notes": "x"}, headers=headers
    )
    assert (status, same) == (200, edited)  # nothing written: the head it was decided at


async def test_errors_name_the_stores_head_and_callers_without_a_token_get_no_position(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", ["read:projects"])
    head = await _head(settings)
    assert await api.app[freshness_key].wait_for(EVERY_READ_MODEL, head, 10.0)

    bad_token = {"Authorization": "Bearer tt_" + "x" * 32}
    for method, path, headers, expected, shown in [
        ("GET", "/api/v1/info", {}, 200, None),
        ("GET", "/api/v1/health", {}, 200, None),
        ("GET", "/api/docs/openapi.json", {}, 200, None),
        ("GET", "/api/v1/projects", {}, 401, None),
        ("GET", "/api/v1/projects", bad_token, 401, None),
        ("GET", "/api/v1/nowhere", alice.headers, 404, None),
        ("GET", f"/api/v1/projects/{project + 1}", bad_token, 401, None),
        ("PUT", "/api/v1/info", {}, 405, None),
        ("GET", ENTRIES, alice.headers, 403, head),
        ("GET", "/api/v1/projects/x", alice.headers, 400, head),
        ("GET", f"/api/v1/projects/{project + 1}", alice.headers, 404, head),
        ("POST", TASKS, alice.headers, 403, head),
        ("POST", "/api/v1/projects", admin.headers, 400, head),
    ]:
        status, position = await _position(api, method, path, json={}, headers=headers)
        assert (status, position) == (expected, shown), (method, path)


async def test_reads_name_their_read_models_position_even_when_it_lags(
    api_with: ApiWith, settings: Settings
) -> None:
    api, store, headers = await _admin_without_runners(api_with)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, refresh_read_models, store, settings.conninfo)
    projected = await _head(settings)
    unseen = await loop.run_in_executor(
        None, store.create_project, CreateProject({"name": "Unseen"}, operator_stamp())
    )

    listed = await api.get("/api/v1/projects", headers=headers)
    missing = await api.get(f"/api/v1/projects/{unseen.id}", headers=headers)
    info = await api.get("/api/v1/info")

    assert unseen.position == projected + 1 == await _head(settings)
    assert (await listed.json())["projects"] == []
    assert listed.headers["X-Event-Position"] == str(projected)
    assert missing.status == 404
    assert missing.headers["X-Event-Position"] == str(projected)
    assert "X-Event-Position" not in info.headers  # no token, no position


async def test_the_summary_names_the_position_of_the_report_groups_read_model(
    api_with: ApiWith, settings: Settings
) -> None:
    api, store, headers = await _admin_without_runners(api_with)
    loop = asyncio.get_running_loop()

    async def catch_up(rollups: bool, read_models: bool) -> int:
        if rollups:
            await loop.run_in_executor(None, follow_rollups, store, settings)
        if read_models:
            await loop.run_in_executor(None, refresh_read_models, store, settings.conninfo)
        head = await _head(settings)
        if read_models:
            assert await api.app[freshness_key].wait_for(["report_groups"], head, 10.0)
        return head

    async def summary_position() -> int:
        status, position = await _position(api, "GET", SUMMARY, headers=headers)
        assert status == 200
        return position

    both = await catch_up(rollups=True, read_models=True)
    assert await summary_position() == both
    await loop.run_in_executor(
        None, store.create_project, CreateProject({"name": "One"}, operator_stamp())
    )
    # The summary sums report_groups (names, rates and entries): the Redis rollups moving
    # on does not move its position.
    assert await catch_up(rollups=True, read_models=False) == both + 1
    assert await summary_position() == both
    assert await catch_up(rollups=False, read_models=True) == both + 1
    assert await summary_position() == both + 1


async def test_an_idempotent_replay_keeps_the_first_answers_position(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    values = {
        "project_id": project,
        "start_time": "2024-01-15T09:00:00Z",
        "end_time": "2024-01-15T10:00:00Z",
    }
    keyed = {**alice.headers, "Idempotency-Key": "once"}

    status, first = await _position(api, "POST", ENTRIES, json=values, headers=keyed)
    await new_entry(api, alice, project, "2024-01-16T09:00:00Z", "2024-01-16T10:00:00Z")
    await created(api, TASKS, {"project_id": project, "name": "T"}, alice.headers)
    status_again, again = await _position(api, "POST", ENTRIES, json=values, headers=keyed)

    assert (status, status_again) == (201, 201)
    assert again == first
    assert await _head(settings) == first + 2
