"""Object-level authorisation: a normal user reaches only their own time entries, timer and
reports; an admin reaches everyone's. Refusals change nothing in the event store."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents, MakeUser
from tests.api.helpers import error_body, instant
from tests.api.timekit import (
    ENTRIES,
    EVERYTHING,
    SUMMARY,
    TIMER,
    get_json,
    listed_entries,
    new_entry,
    new_project,
    stream_version,
)
from timetracker.http.settings import Settings


async def test_a_user_cannot_read_edit_or_delete_another_users_entry(
    api: TestClient,
    admin: ApiUser,
    make_user: MakeUser,
    count_events: CountEvents,
    settings: Settings,
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    bobs = await new_entry(api, bob, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    running = await new_entry(api, bob, project, "2024-01-16T09:00:00Z", None)
    path = f"{ENTRIES}/{bobs['id']}"
    versions = {
        e["id"]: await stream_version(settings, "time_entry", e["id"]) for e in (bobs, running)
    }
    timer_version = await stream_version(settings, "timer", bob.id)
    before = await count_events()
    nowhere = await error_body(
        await api.get(f"{ENTRIES}/999", headers=alice.headers), 404, "not_found"
    )

    for entry in (bobs, running):
        entry_path = f"{ENTRIES}/{entry['id']}"
        for method, values in [
            ("GET", None),
            ("PUT", {"notes": "mine now"}),
            ("PATCH", {"end_time": "2024-01-16T11:00:00Z"}),
            ("PATCH", {"start_time": "2024-01-16T08:00:00Z"}),
            ("DELETE", None),
        ]:
            for extra in ({}, {"If-Match": '"1"'}, {"If-Match": '"9"'}):
                response = await api.request(
                    method, entry_path, json=values, headers={**alice.headers, **extra}
                )
                body = await error_body(response, 404, "not_found")
                # the same answer as for an id that does not exist: nothing is revealed
                assert set(body) == set(nowhere), body
                assert "ETag" not in response.headers

    assert await count_events() == before
    for entry_id, version in versions.items():
        assert await stream_version(settings, "time_entry", entry_id) == version
    assert await stream_version(settings, "timer", bob.id) == timer_version
    assert await get_json(api, path, bob) == {"time_entry": bobs}
    assert (await get_json(api, f"{TIMER}/status", bob))["timer"] == running
    assert await listed_entries(api, alice, "include_active=true") == []


async def test_a_user_cannot_list_or_report_another_users_time(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    mine = await new_entry(api, alice, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    await new_entry(api, bob, project, "2024-01-15T11:00:00Z", "2024-01-15T12:00:00Z")

    for path in (
        f"{ENTRIES}?user_id={bob.id}",
        f"{ENTRIES}?user_id={bob.id}&include_active=true",
        f"{ENTRIES}?user_id=999",
        f"{SUMMARY}?user_id={bob.id}&start_date=2024-01-01&end_date=2024-01-31",
        f"{SUMMARY}?user_id={admin.id}",
    ):
        await error_body(await api.get(path, headers=alice.headers), 403, "forbidden")

    assert await listed_entries(api, alice) == [mine]
    assert await listed_entries(api, alice, f"user_id={alice.id}") == [mine]
    report = await get_json(api, f"{SUMMARY}?start_date=2024-01-15&end_date=2024-01-15", alice)
    assert (report["summary"]["total_hours"], report["summary"]["total_entries"]) == (1.0, 1)
    everyone = await listed_entries(api, admin)
    assert len(everyone) == 2
    assert [e["user_id"] for e in await listed_entries(api, admin, f"user_id={bob.id}")] == [bob.id]


async def test_a_normal_user_cannot_record_time_for_someone_else(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    values = {
        "project_id": project,
        "start_time": "2024-01-15T09:00:00Z",
        "end_time": "2024-01-15T10:00:00Z",
    }
    before = await count_events()

    for user_id in (bob.id, admin.id, 999):
        for extra in ({}, {"end_time": None}):
            response = await api.post(
                ENTRIES, json={**values, **extra, "user_id": user_id}, headers=alice.headers
            )
            errors = (await error_body(response, 400, "validation_error"))["errors"]
            assert list(errors) == ["user_id"], (user_id, errors)

    assert await count_events() == before
    assert await listed_entries(api, bob, "include_active=true") == []
    assert (await get_json(api, f"{TIMER}/status", bob))["active"] is False
    # naming oneself is allowed
    own = await new_entry(api, alice, project, values["start_time"], None, user_id=alice.id)
    assert own["user_id"] == alice.id


async def test_timers_are_private_and_an_admin_may_act_on_anyones_entry(
    api: TestClient,
    admin: ApiUser,
    make_user: MakeUser,
    settings: Settings,
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    bobs_timer = (
        await (
            await api.post(f"{TIMER}/start", json={"project_id": project}, headers=bob.headers)
        ).json()
    )["timer"]

    assert await get_json(api, f"{TIMER}/status", alice) == {"active": False, "timer": None}
    await error_body(await api.post(f"{TIMER}/stop", headers=alice.headers), 409, "no_active_timer")
    alices = await api.post(f"{TIMER}/start", json={"project_id": project}, headers=alice.headers)
    assert alices.status == 201  # bob's timer does not block alice's
    assert (await get_json(api, f"{TIMER}/status", bob))["timer"] == bobs_timer

    end_time = (instant(bobs_timer["start_time"]) + timedelta(minutes=30)).isoformat()
    read = await get_json(api, f"{ENTRIES}/{bobs_timer['id']}", admin)
    assert read["time_entry"]["user_id"] == bob.id
    stopped = await api.patch(
        f"{ENTRIES}/{bobs_timer['id']}",
        json={"end_time": end_time, "notes": "stopped by admin"},
        headers=admin.headers,
    )
    assert stopped.status == 200, await stopped.text()
    stopped_entry = (await stopped.json())["time_entry"]
    assert (stopped_entry["user_id"], stopped_entry["duration_seconds"]) == (bob.id, 1800)
    assert (await get_json(api, f"{TIMER}/status", bob))["active"] is False
    assert (await get_json(api, f"{TIMER}/status", alice))["active"] is True
    deleted = await api.delete(f"{ENTRIES}/{bobs_timer['id']}", headers=admin.headers)
    assert deleted.status == 200
    assert await stream_version(settings, "time_entry", bobs_timer["id"]) == 3
    await error_body(  # issue 6: bob's own deleted entry answers 404 `deleted`
        await api.get(f"{ENTRIES}/{bobs_timer['id']}", headers=bob.headers), 404, "deleted"
    )
