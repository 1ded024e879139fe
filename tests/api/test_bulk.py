"""POST /api/v1/time-entries/bulk: up to 1,000 finished entries, all or nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents, MakeUser
from tests.api.helpers import error_body
from tests.api.timekit import (
    ENTRIES,
    EVERYTHING,
    archive_project,
    listed_entries,
    new_project,
    new_task,
    summary,
)
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.ops.accounts import issue_token, register_user
from timetracker.projections.engine.tracking import wait_for

BULK = f"{ENTRIES}/bulk"


def item(project: int, day: int, hours: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "project_id": project,
        "start_time": f"2024-01-{day:02d}T09:00:00Z",
        "end_time": f"2024-01-{day:02d}T{9 + hours:02d}:00:00Z",
        **extra,
    }


async def test_a_bulk_create_records_every_entry_in_request_order_and_shows_them_at_once(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    task = await new_task(api, alice, project, "Design")
    before = await count_events()
    items = [item(project, day, hours=day % 3 + 1) for day in range(1, 21)]
    items[4]["task_id"] = task["id"]
    items[5]["tags"] = ["a", "b"]

    response = await api.post(BULK, json={"time_entries": items}, headers=alice.headers)

    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["message"] == "20 time entries created"
    created = body["time_entries"]
    assert [e["start_time"] for e in created] == [i["start_time"] for i in items]
    assert [e["duration_seconds"] for e in created] == [(d % 3 + 1) * 3600 for d in range(1, 21)]
    assert created[4]["task_id"] == task["id"]
    assert created[5]["tag_list"] == ["a", "b"]
    assert {e["user_id"] for e in created} == {alice.id}
    assert {e["source"] for e in created} == {"api"}
    assert await count_events() == before + 20
    # read your writes: the list and the report show them on the next request
    listed = await listed_entries(api, alice, "?per_page=100")
    assert sorted(e["id"] for e in listed) == sorted(e["id"] for e in created)
    assert listed == sorted(created, key=lambda e: e["start_time"], reverse=True)
    report = await summary(api, alice, "?start_date=2024-01-01&end_date=2024-01-31")
    assert report["total_entries"] == 20
    assert report["total_hours"] == sum(d % 3 + 1 for d in range(1, 21))


async def test_one_bad_item_writes_nothing_and_is_named_by_its_index(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    archived = await new_project(api, admin, "Old")
    await archive_project(api, admin, archived)
    alice = await make_user("alice", EVERYTHING)
    before = await count_events()
    items = [item(project, day) for day in range(1, 8)]
    items[3]["end_time"] = items[3]["start_time"]  # ends when it starts: the domain refuses
    items[4] = item(archived, 5)
    items[5]["task_id"] = 999
    items[6]["billable"] = "yes"  # the schema refuses

    response = await api.post(BULK, json={"time_entries": items}, headers=alice.headers)
    body = await error_body(response, 400, "validation_error")
    assert list(body["errors"]) == ["time_entries[6].billable"]

    del items[6]
    response = await api.post(BULK, json={"time_entries": items}, headers=alice.headers)
    body = await error_body(response, 400, "validation_error")
    assert set(body["errors"]) == {
        "time_entries[3].end_time",
        "time_entries[4].project_id",
        "time_entries[5].task_id",
    }
    assert await count_events() == before
    assert await listed_entries(api, alice) == []


async def test_a_running_entry_an_empty_list_and_other_users_are_refused(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    before = await count_events()
    running = {"project_id": project, "start_time": "2024-01-01T09:00:00Z"}

    response = await api.post(
        BULK, json={"time_entries": [item(project, 1), running]}, headers=alice.headers
    )
    body = await error_body(response, 400, "validation_error")
    assert list(body["errors"]) == ["time_entries[1].end_time"]

    response = await api.post(BULK, json={"time_entries": []}, headers=alice.headers)
    body = await error_body(response, 400, "validation_error")
    assert list(body["errors"]) == ["time_entries"]

    response = await api.post(BULK, json={}, headers=alice.headers)
    await error_body(response, 400, "validation_error")

    items = [item(project, 1), 5, "x", None, []]  # items that are no objects: named by index
    response = await api.post(BULK, json={"time_entries": items}, headers=alice.headers)
    body = await error_body(response, 400, "validation_error")
    assert sorted(body["errors"]) == [f"time_entries[{n}]" for n in range(1, 5)]

    response = await api.post(
        BULK,
        json={"time_entries": [item(project, 1, user_id=admin.id)]},
        headers=alice.headers,
    )
    body = await error_body(response, 400, "validation_error")
    assert list(body["errors"]) == ["time_entries[0].user_id"]
    assert await count_events() == before

    # an admin records for others
    response = await api.post(
        BULK,
        json={"time_entries": [item(project, 1, user_id=alice.id), item(project, 2)]},
        headers=admin.headers,
    )
    assert response.status == 201, await response.text()
    users = [e["user_id"] for e in (await response.json())["time_entries"]]
    assert users == [alice.id, admin.id]


async def test_more_than_a_thousand_items_is_413_and_a_thousand_is_one_request(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    before = await count_events()
    too_many = [item(project, 1 + n % 28) for n in range(1001)]

    response = await api.post(BULK, json={"time_entries": too_many}, headers=alice.headers)
    await error_body(response, 413, "too_many_items")
    assert await count_events() == before

    response = await api.post(BULK, json={"time_entries": too_many[:1000]}, headers=alice.headers)
    assert response.status == 201, await response.text()
    assert len((await response.json())["time_entries"]) == 1000
    assert await count_events() == before + 1000


async def test_a_bulk_create_counts_as_one_request_against_the_rate_limits(
    api_with: Callable[..., Awaitable[TestClient]],
) -> None:
    api = await api_with(rate_limit_per_minute=100, rate_limit_per_hour=1000)
    store = api.app[time_tracking_key]
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, register_user, store, "boss", None, None, True)
    issued = await loop.run_in_executor(None, issue_token, store, "boss", EVERYTHING, "t", None)
    assert await wait_for(api.app[read_pool_key], ["accounts"], issued.position, 5.0)
    headers = {"Authorization": f"Bearer {issued.token}"}
    created = await api.post("/api/v1/projects", json={"name": "P"}, headers=headers)
    project = (await created.json())["project"]["id"]
    remaining = int(created.headers["X-RateLimit-Remaining"])

    items = [item(project, 1 + n % 28) for n in range(200)]
    response = await api.post(BULK, json={"time_entries": items}, headers=headers)

    assert response.status == 201, await response.text()
    assert int(response.headers["X-RateLimit-Remaining"]) == remaining - 1


async def test_an_idempotency_key_replays_a_bulk_create_without_writing_again(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    headers = {**alice.headers, "Idempotency-Key": "bulk-1"}
    payload = {"time_entries": [item(project, 1), item(project, 2)]}
    before = await count_events()

    first = await api.post(BULK, json=payload, headers=headers)
    again = await api.post(BULK, json=payload, headers=headers)

    assert first.status == again.status == 201
    assert await first.json() == await again.json()
    assert await count_events() == before + 2
    changed = await api.post(BULK, json={"time_entries": [item(project, 3)]}, headers=headers)
    assert changed.status == 422


async def test_bulk_needs_the_write_scope(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin)
    reader = await make_user("reader", ["read:*"])
    response = await api.post(
        BULK, json={"time_entries": [item(project, 1)]}, headers=reader.headers
    )
    body = await error_body(response, 403, "forbidden")
    assert body["required_scope"] == "write:time_entries"


async def test_other_methods_on_the_bulk_path_are_405_not_an_entry_named_bulk(
    api: TestClient, admin: ApiUser
) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await api.request(method, BULK, json={"time_entries": []}, headers=admin.headers)
        await error_body(response, 405, "method_not_allowed")
        assert response.headers["Allow"] == "POST"
    document = await (await api.get("/api/docs/openapi.json")).json()
    assert "/api/v1/time-entries/{entry_id}" in document["paths"]
    assert set(document["paths"]["/api/v1/time-entries/bulk"]) == {"post"}
