"""/api/v1/timer: status, start and stop; one running timer per user, also under concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents, MakeUser
from tests.api.helpers import error_body, instant
from tests.api.timekit import (
    ENTRIES,
    EVERYTHING,
    TIMER,
    archive_project,
    get_json,
    listed_entries,
    new_entry,
    new_project,
    new_task,
    stream_version,
    summary,
)
from timetracker.http.settings import Settings


async def _status(api: TestClient, user: ApiUser) -> dict[str, Any]:
    body: dict[str, Any] = await get_json(api, f"{TIMER}/status", user)
    return body


async def _start(api: TestClient, user: ApiUser, values: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"{TIMER}/start", json=values, headers=user.headers)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def _exact_duration(entry: dict[str, Any]) -> int:
    return int((instant(entry["end_time"]) - instant(entry["start_time"])).total_seconds())


async def test_status_start_status_stop_status(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    task = await new_task(api, alice, project, "Build")
    assert await _status(api, alice) == {"active": False, "timer": None}
    before = await count_events()
    requested_at = datetime.now(UTC)

    response = await api.post(
        f"{TIMER}/start",
        json={"project_id": project, "task_id": task["id"], "notes": "focus", "tags": ["deep"]},
        headers=alice.headers,
    )

    assert response.status == 201, await response.text()
    started = await response.json()
    assert started["message"] == "Timer started successfully"
    timer = started["timer"]
    assert response.headers["Location"] == f"{ENTRIES}/{timer['id']}"
    assert await count_events() == before + 3  # entry created, timer created, timer started
    assert (timer["is_active"], timer["end_time"], timer["duration_seconds"]) == (True, None, None)
    assert timer["duration_hours"] is None
    assert (timer["project_id"], timer["task_id"], timer["user_id"]) == (
        project,
        task["id"],
        alice.id,
    )
    assert (timer["notes"], timer["tags"], timer["source"], timer["billable"]) == (
        "focus",
        "deep",
        "timer",
        True,
    )
    assert abs(instant(timer["start_time"]) - requested_at) < timedelta(seconds=5)
    assert await _status(api, alice) == {"active": True, "timer": timer}
    assert await listed_entries(api, alice) == []  # running entries only with include_active
    assert await listed_entries(api, alice, "include_active=true") == [timer]

    # backdate the running entry by two hours: it keeps running
    earlier = (instant(timer["start_time"]) - timedelta(hours=2)).isoformat()
    moved = await api.patch(
        f"{ENTRIES}/{timer['id']}", json={"start_time": earlier}, headers=alice.headers
    )
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["time_entry"]["is_active"] is True
    stopped_response = await api.post(f"{TIMER}/stop", headers=alice.headers)

    assert stopped_response.status == 200, await stopped_response.text()
    stopped = await stopped_response.json()
    assert stopped["message"] == "Timer stopped successfully"
    entry = stopped["time_entry"]
    assert (entry["id"], entry["is_active"], entry["version"]) == (timer["id"], False, 3)
    assert entry["duration_seconds"] == _exact_duration(entry)
    assert 7200 <= entry["duration_seconds"] < 7200 + 60
    assert entry["duration_hours"] == round(entry["duration_seconds"] / 3600, 2)
    assert await _status(api, alice) == {"active": False, "timer": None}
    assert await get_json(api, f"{ENTRIES}/{timer['id']}", alice) == {"time_entry": entry}
    assert await listed_entries(api, alice) == [entry]


async def test_stop_without_a_running_timer_is_409_no_active_timer_and_writes_nothing(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    before = await count_events()

    never = await api.post(f"{TIMER}/stop", headers=alice.headers)

    body = await error_body(never, 409, "no_active_timer")
    assert body["error"] == "Conflict"
    assert await count_events() == before
    await _start(api, alice, {"project_id": project})
    assert (await api.post(f"{TIMER}/stop", headers=alice.headers)).status == 200
    after_stop = await count_events()
    await error_body(await api.post(f"{TIMER}/stop", headers=alice.headers), 409, "no_active_timer")
    assert await count_events() == after_stop


async def test_a_second_timer_is_refused_whichever_way_it_is_started(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    running = await new_entry(api, alice, project, "2024-01-15T09:00:00Z", None)
    assert running["is_active"] is True
    before = await count_events()

    by_timer = await api.post(f"{TIMER}/start", json={"project_id": project}, headers=alice.headers)
    by_entry = await api.post(
        ENTRIES,
        json={"project_id": project, "start_time": "2024-01-15T10:00:00Z"},
        headers=alice.headers,
    )
    by_null_end = await api.post(
        ENTRIES,
        json={"project_id": project, "start_time": "2024-01-15T10:00:00Z", "end_time": None},
        headers=alice.headers,
    )

    for response in (by_timer, by_entry, by_null_end):
        await error_body(response, 409, "timer_already_running")
    assert await count_events() == before
    # finished entries are still welcome while a timer runs
    finished = await new_entry(api, alice, project, "2024-01-14T09:00:00Z", "2024-01-14T10:00:00Z")
    assert finished["is_active"] is False
    assert (await _status(api, alice))["timer"]["id"] == running["id"]


async def test_patching_end_time_onto_the_running_entry_stops_the_timer(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    running = await new_entry(api, alice, project, "2024-01-15T09:00:00Z", None)

    patched = await api.patch(
        f"{ENTRIES}/{running['id']}",
        json={"end_time": "2024-01-15T09:45:00Z"},
        headers=alice.headers,
    )

    assert patched.status == 200, await patched.text()
    entry = (await patched.json())["time_entry"]
    assert (entry["is_active"], entry["duration_seconds"], entry["duration_hours"]) == (
        False,
        2700,
        0.75,
    )
    assert await _status(api, alice) == {"active": False, "timer": None}
    await error_body(await api.post(f"{TIMER}/stop", headers=alice.headers), 409, "no_active_timer")
    again = await _start(api, alice, {"project_id": project})
    assert (await _status(api, alice))["timer"]["id"] == again["timer"]["id"]
    # an end cannot be taken away again
    reopened = await api.patch(
        f"{ENTRIES}/{running['id']}", json={"end_time": None}, headers=alice.headers
    )
    assert list((await error_body(reopened, 400, "validation_error"))["errors"]) == ["end_time"]


async def test_deleting_the_running_entry_stops_the_timer(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    timer = (await _start(api, alice, {"project_id": project}))["timer"]

    deleted = await api.delete(f"{ENTRIES}/{timer['id']}", headers=alice.headers)

    assert deleted.status == 200, await deleted.text()
    assert await _status(api, alice) == {"active": False, "timer": None}
    await error_body(await api.post(f"{TIMER}/stop", headers=alice.headers), 409, "no_active_timer")
    await error_body(  # issue 6: a deleted entry answers 404 `deleted`
        await api.get(f"{ENTRIES}/{timer['id']}", headers=alice.headers), 404, "deleted"
    )
    assert await listed_entries(api, alice, "include_active=true") == []
    assert await stream_version(settings, "timer", alice.id) == 3  # created, started, stopped
    await _start(api, alice, {"project_id": project})
    assert await stream_version(settings, "timer", alice.id) == 4


async def test_no_timer_starts_on_an_archived_project(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    await archive_project(api, admin, project)
    alice = await make_user("alice", EVERYTHING)
    before = await count_events()

    by_timer = await api.post(f"{TIMER}/start", json={"project_id": project}, headers=alice.headers)
    by_entry = await api.post(
        ENTRIES,
        json={"project_id": project, "start_time": "2024-01-15T10:00:00Z"},
        headers=alice.headers,
    )
    finished = await api.post(
        ENTRIES,
        json={
            "project_id": project,
            "start_time": "2024-01-15T10:00:00Z",
            "end_time": "2024-01-15T11:00:00Z",
        },
        headers=alice.headers,
    )

    for response in (by_timer, by_entry, finished):
        await error_body(response, 409, "project_archived")
    assert await count_events() == before
    assert await _status(api, alice) == {"active": False, "timer": None}


async def test_a_timer_stops_after_its_project_was_archived_mid_run(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin, "Sunset")
    alice = await make_user("alice", EVERYTHING)
    timer = (await _start(api, alice, {"project_id": project}))["timer"]
    await archive_project(api, admin, project)

    stopped = await api.post(f"{TIMER}/stop", headers=alice.headers)

    assert stopped.status == 200, await stopped.text()
    entry = (await stopped.json())["time_entry"]
    assert (entry["id"], entry["is_active"], entry["project_id"]) == (timer["id"], False, project)
    assert entry["duration_seconds"] == _exact_duration(entry)
    assert await _status(api, alice) == {"active": False, "timer": None}
    day = instant(entry["start_time"]).date().isoformat()
    report = await summary(api, alice, f"start_date={day}&end_date={day}")
    assert report["total_entries"] == 1
    assert report["by_project"][0]["project_name"] == "Sunset"
    await error_body(
        await api.post(f"{TIMER}/start", json={"project_id": project}, headers=alice.headers),
        409,
        "project_archived",
    )


async def test_twenty_concurrent_starts_give_one_timer(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    bob = await make_user("bob", EVERYTHING)
    before = await count_events()

    responses = await asyncio.gather(
        *[
            api.post(f"{TIMER}/start", json={"project_id": project}, headers=bob.headers)
            for _ in range(20)
        ]
    )

    assert sorted(r.status for r in responses) == [201] + [409] * 19
    for response in responses:
        if response.status == 409:
            await error_body(response, 409, "timer_already_running")
    (winner,) = [(await r.json())["timer"] for r in responses if r.status == 201]
    assert await count_events() == before + 3
    assert await _status(api, bob) == {"active": True, "timer": winner}
    assert await listed_entries(api, bob, "include_active=true") == [winner]
    assert (await api.post(f"{TIMER}/stop", headers=bob.headers)).status == 200


async def test_concurrent_timer_starts_and_running_entries_give_one_timer(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    carol = await make_user("carol", EVERYTHING)
    before = await count_events()
    starts = [
        api.post(f"{TIMER}/start", json={"project_id": project}, headers=carol.headers)
        for _ in range(10)
    ]
    creations = [
        api.post(
            ENTRIES,
            json={"project_id": project, "start_time": f"2024-01-15T{h:02d}:00:00Z"},
            headers=carol.headers,
        )
        for h in range(10)
    ]
    interleaved = [call for pair in zip(starts, creations, strict=True) for call in pair]

    responses = await asyncio.gather(*interleaved)

    assert sorted(r.status for r in responses) == [201] + [409] * 19
    for response in responses:
        if response.status == 409:
            await error_body(response, 409, "timer_already_running")
    (winner,) = [r for r in responses if r.status == 201]
    body = await winner.json()
    running = body.get("timer") or body["time_entry"]
    assert await count_events() == before + 3
    assert (await _status(api, carol))["timer"] == running
    assert await listed_entries(api, carol, "include_active=true") == [running]


async def test_timers_are_per_user_even_when_started_together(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin)
    users = [await make_user(name, EVERYTHING) for name in ("u1", "u2", "u3")]

    responses = await asyncio.gather(
        *[
            api.post(f"{TIMER}/start", json={"project_id": project}, headers=user.headers)
            for user in users
            for _ in range(5)
        ]
    )

    for n, user in enumerate(users):
        mine = sorted(r.status for r in responses[n * 5 : n * 5 + 5])
        assert mine == [201, 409, 409, 409, 409], (user.username, mine)
        status = await _status(api, user)
        assert status["active"] is True
        assert status["timer"]["user_id"] == user.id
    stopped = await api.post(f"{TIMER}/stop", headers=users[0].headers)
    assert stopped.status == 200
    assert (await _status(api, users[0]))["active"] is False
    assert (await _status(api, users[1]))["active"] is True
    assert (await _status(api, users[2]))["active"] is True


async def test_bad_timer_starts_are_4xx_and_write_nothing(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    other = await new_project(api, admin, "Other")
    alice = await make_user("alice", EVERYTHING)
    reader = await make_user("reader", ["read:time_entries"])
    foreign_task = await new_task(api, alice, other, "Elsewhere")
    before = await count_events()
    cases: list[tuple[Any, str]] = [
        ({}, "project_id"),
        ({"project_id": "1"}, "project_id"),
        ({"project_id": 999}, "project_id"),
        ({"project_id": project, "task_id": foreign_task["id"]}, "task_id"),
        ({"project_id": project, "task_id": 999}, "task_id"),
        ({"project_id": project, "start_time": "2024-01-15T09:00:00Z"}, "start_time"),
        ({"project_id": project, "end_time": "2024-01-15T09:00:00Z"}, "end_time"),
        ({"project_id": project, "user_id": alice.id}, "user_id"),
        ({"project_id": project, "billable": "yes"}, "billable"),
    ]

    for values, field in cases:
        response = await api.post(f"{TIMER}/start", json=values, headers=alice.headers)
        errors = (await error_body(response, 400, "validation_error"))["errors"]
        assert list(errors) == [field], (values, errors)
    nan = await api.post(
        f"{TIMER}/start",
        data=b'{"project_id": NaN}',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    await error_body(nan, 400, "validation_error")
    await error_body(
        await api.post(f"{TIMER}/start", json={"project_id": project}, headers=reader.headers),
        403,
        "forbidden",
    )
    await error_body(await api.post(f"{TIMER}/stop", headers=reader.headers), 403, "forbidden")
    await error_body(await api.get(f"{TIMER}/status"), 401, "unauthorized")
    await error_body(
        await api.get(f"{TIMER}/start", headers=alice.headers), 405, "method_not_allowed"
    )
    assert await count_events() == before
    assert await _status(api, reader) == {"active": False, "timer": None}


async def test_a_running_entry_cannot_start_in_the_future_so_a_stop_always_works(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = await count_events()
    refused = await api.post(
        ENTRIES, json={"project_id": project, "start_time": later}, headers=admin.headers
    )
    body = await error_body(refused, 400, "validation_error")
    assert body["errors"] == {"start_time": ["A running entry cannot start in the future."]}
    assert await count_events() == before
    running = await _start(api, admin, {"project_id": project})
    moved = await api.patch(
        f"{ENTRIES}/{running['timer']['id']}", json={"start_time": later}, headers=admin.headers
    )
    await error_body(moved, 400, "validation_error")
    stopped = await api.post(f"{TIMER}/stop", headers=admin.headers)
    assert stopped.status == 200, await stopped.text()
