"""Undo over HTTP: restoring a deleted time entry, and reverting one to an earlier version.

Both are ordinary writes: every rule of the resource applies, If-Match guards them, a
refused one writes nothing, and both appear in the entry's history.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents, MakeUser
from tests.api.helpers import error_body
from tests.api.timekit import (
    ENTRIES,
    EVERYTHING,
    TIMER,
    archive_project,
    get_json,
    listed_entries,
    new_entry,
    new_project,
    summary,
)

JAN = "start_date=2024-01-01&end_date=2024-01-31"


async def _post(api: TestClient, path: str, user: ApiUser, body: Any = None, **headers: str) -> Any:
    response = await api.post(path, json=body, headers={**user.headers, **headers})
    assert response.status == 200, await response.text()
    return response


async def _history(api: TestClient, path: str, user: ApiUser) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = (await get_json(api, f"{path}/history", user))["history"]
    return history


async def test_a_restored_entry_is_back_in_reads_lists_reports_and_its_history(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    entry = await new_entry(
        api, alice, project, "2024-01-15T09:00:00Z", "2024-01-15T10:30:00Z", notes="kept"
    )
    path = f"{ENTRIES}/{entry['id']}"
    assert (await api.delete(path, headers=alice.headers)).status == 200
    assert (await summary(api, alice, JAN))["total_entries"] == 0

    response = await _post(api, f"{path}/restore", alice, **{"X-Request-ID": "undo-1"})

    body = await response.json()
    assert body["message"] == "Time entry restored successfully"
    restored = body["time_entry"]
    assert response.headers["ETag"] == '"3"'
    assert restored == {
        **entry,
        "version": 3,
        "updated_at": restored["updated_at"],
    }
    assert restored["updated_at"] > entry["updated_at"]
    assert (await get_json(api, path, alice))["time_entry"] == restored
    assert [e["id"] for e in await listed_entries(api, alice)] == [entry["id"]]
    report = await summary(api, alice, JAN)
    assert (report["total_hours"], report["total_entries"]) == (1.5, 1)
    history = await _history(api, path, alice)
    assert [(h["version"], h["event"]) for h in history] == [
        (1, "EntryCreated"),
        (2, "EntryDeleted"),
        (3, "EntryRestored"),
    ]
    assert history[2]["changes"] == {"deleted": {"from": True, "to": False}}
    assert history[2]["request_id"] == "undo-1"
    assert history[2]["position"] == int(response.headers["X-Event-Position"])


async def test_restore_is_refused_for_entries_that_are_not_deleted_or_not_yours(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    reader = await make_user("reader", ["read:*"])
    entry = await new_entry(api, alice, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    path = f"{ENTRIES}/{entry['id']}"
    before = await count_events()

    response = await api.post(f"{path}/restore", headers=alice.headers)
    await error_body(response, 409, "not_deleted")
    assert (await api.delete(path, headers=alice.headers)).status == 200
    deleted = await count_events()
    await error_body(await api.post(f"{path}/restore", headers=bob.headers), 404, "not_found")
    await error_body(await api.post(f"{ENTRIES}/77/restore", headers=bob.headers), 404, "not_found")
    stale = await api.post(f"{path}/restore", headers={**alice.headers, "If-Match": '"1"'})
    await error_body(stale, 412, "precondition_failed")
    await error_body(await api.post(f"{path}/restore", headers=reader.headers), 403, "forbidden")

    assert deleted == before + 1
    assert await count_events() == deleted
    # an admin may restore anyone's entry, with the right version
    await _post(api, f"{path}/restore", admin, **{"If-Match": '"2"'})
    assert (await get_json(api, path, alice))["time_entry"]["version"] == 3


async def test_restoring_needs_a_project_that_is_not_archived(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    entry = await new_entry(api, alice, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    path = f"{ENTRIES}/{entry['id']}"
    assert (await api.delete(path, headers=alice.headers)).status == 200
    await archive_project(api, admin, project)
    before = await count_events()

    await error_body(
        await api.post(f"{path}/restore", headers=alice.headers), 409, "project_archived"
    )

    assert await count_events() == before
    await error_body(await api.get(path, headers=alice.headers), 404, "deleted")


async def test_a_restored_running_entry_runs_again_unless_another_timer_runs(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    started = await api.post(f"{TIMER}/start", json={"project_id": project}, headers=alice.headers)
    timer = (await started.json())["timer"]
    path = f"{ENTRIES}/{timer['id']}"
    assert (await api.delete(path, headers=alice.headers)).status == 200
    other = await api.post(f"{TIMER}/start", json={"project_id": project}, headers=alice.headers)
    assert other.status == 201
    before = await count_events()

    refused = await api.post(f"{path}/restore", headers=alice.headers)

    await error_body(refused, 409, "timer_already_running")
    assert await count_events() == before
    assert (await api.post(f"{TIMER}/stop", headers=alice.headers)).status == 200
    back = await (await _post(api, f"{path}/restore", alice)).json()
    assert back["time_entry"]["is_active"] is True
    status = await get_json(api, f"{TIMER}/status", alice)
    assert status == {"active": True, "timer": back["time_entry"]}
    history = await _history(api, path, alice)
    assert history[-1]["event"] == "EntryRestored"


async def test_revert_returns_an_entry_to_an_earlier_version_as_a_new_edit(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    web = await new_project(api, admin, "Web")
    ops = await new_project(api, admin, "Ops")
    alice = await make_user("alice", EVERYTHING)
    entry = await new_entry(
        api, alice, web, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z", notes="v1", tags="a"
    )
    path = f"{ENTRIES}/{entry['id']}"
    edits = [
        {"notes": "v2", "end_time": "2024-01-15T12:00:00Z"},
        {"project_id": ops, "tags": "b,c", "billable": False},
    ]
    for values in edits:
        response = await api.patch(path, json=values, headers=alice.headers)
        assert response.status == 200, await response.text()

    response = await _post(api, f"{path}/revert", alice, {"version": 1})

    body = await response.json()
    assert body["message"] == "Time entry reverted to version 1"
    reverted = body["time_entry"]
    assert {k: v for k, v in reverted.items() if k not in ("updated_at", "version")} == {
        k: v for k, v in entry.items() if k not in ("updated_at", "version")
    }
    assert reverted["version"] == 4
    history = await _history(api, path, alice)
    assert (history[-1]["version"], history[-1]["event"]) == (4, "EntryEdited")
    assert history[-1]["changes"] == {
        "project_id": {"from": ops, "to": web},
        "end_time": {"from": "2024-01-15T12:00:00Z", "to": "2024-01-15T10:00:00Z"},
        "notes": {"from": "v2", "to": "v1"},
        "tags": {"from": "b,c", "to": "a"},
        "billable": {"from": False, "to": True},
        "duration_seconds": {"from": 10800, "to": 3600},
    }
    report = await summary(api, alice, JAN)
    assert [(p["project_id"], p["hours"], p["billable_hours"]) for p in report["by_project"]] == [
        (web, 1.0, 1.0)
    ]
    # to version 2: only what differs from now changes
    two = await (await _post(api, f"{path}/revert", alice, {"version": 2})).json()
    assert (two["time_entry"]["notes"], two["time_entry"]["duration_seconds"]) == ("v2", 10800)
    assert (await _history(api, path, alice))[-1]["changes"] == {
        "end_time": {"from": "2024-01-15T10:00:00Z", "to": "2024-01-15T12:00:00Z"},
        "notes": {"from": "v1", "to": "v2"},
        "duration_seconds": {"from": 3600, "to": 10800},
    }
    # to the version it is already like: nothing changes, nothing is written
    before = await count_events()
    same = await _post(api, f"{path}/revert", alice, {"version": 5})
    assert (await same.json())["time_entry"]["version"] == 5
    assert await count_events() == before


async def test_revert_obeys_every_rule_of_an_edit(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    web = await new_project(api, admin, "Web")
    ops = await new_project(api, admin, "Ops")
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    entry = await new_entry(api, alice, ops, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    path = f"{ENTRIES}/{entry['id']}"
    assert (await api.patch(path, json={"project_id": web}, headers=alice.headers)).status == 200
    await archive_project(api, admin, ops)
    timer = (
        await (
            await api.post(f"{TIMER}/start", json={"project_id": web}, headers=alice.headers)
        ).json()
    )["timer"]
    assert (await api.post(f"{TIMER}/stop", headers=alice.headers)).status == 200
    before = await count_events()

    for target, body, status, code in [
        (path, {"version": 1}, 409, "project_archived"),
        (path, {"version": 3}, 400, "validation_error"),
        (path, {"version": 0}, 400, "validation_error"),
        (path, {"version": "1"}, 400, "validation_error"),
        (path, {}, 400, "validation_error"),
        (f"{ENTRIES}/{timer['id']}", {"version": 1}, 400, "validation_error"),
    ]:
        response = await api.post(f"{target}/revert", json=body, headers=alice.headers)
        await error_body(response, status, code)
    await error_body(
        await api.post(f"{path}/revert", json={"version": 1}, headers=bob.headers), 404, "not_found"
    )
    stale = await api.post(
        f"{path}/revert", json={"version": 2}, headers={**alice.headers, "If-Match": '"1"'}
    )
    await error_body(stale, 412, "precondition_failed")
    assert (await api.delete(path, headers=alice.headers)).status == 200
    after_delete = await count_events()
    await error_body(
        await api.post(f"{path}/revert", json={"version": 1}, headers=alice.headers),
        404,
        "not_found",
    )

    assert after_delete == before + 1
    assert await count_events() == after_delete
