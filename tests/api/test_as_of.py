"""Time travel over HTTP: `as_of` on single resources and on the summary report.

A moment stands for a store position; the answer names it and never changes afterwards,
whatever is edited, deleted, restored or renamed later.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser
from tests.api.helpers import created, error_body
from tests.api.timekit import (
    ENTRIES,
    EVERYTHING,
    SUMMARY,
    TASKS,
    TIMER,
    get_json,
    new_entry,
    new_project,
    summary,
)
from timetracker.http.keys import settings_key, time_tracking_key
from timetracker.projections.engine.rebuild import rebuild
from timetracker.projections.time_travel import TimeTravelProjection

JAN = "start_date=2024-01-01&end_date=2024-01-31"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _moment() -> datetime:
    """A moment strictly between what was written so far and what comes next."""
    await asyncio.sleep(0.02)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.02)
    return moment


async def _position(api: TestClient, method: str, path: str, user: ApiUser, body: Any) -> int:
    response = await api.request(method, path, json=body, headers=user.headers)
    assert response.status in (200, 201), await response.text()
    return int(response.headers["X-Event-Position"])


async def _as_of(
    api: TestClient, path: str, user: ApiUser, moment: datetime, status: int = 200
) -> tuple[dict[str, Any], int]:
    """GET `path` as of `moment`; the body and the position in `X-Event-Position`."""
    separator = "&" if "?" in path else "?"
    response = await api.get(f"{path}{separator}as_of={_stamp(moment)}", headers=user.headers)
    assert response.status == status, await response.text()
    return await response.json(), int(response.headers["X-Event-Position"])


def _row(project: int, name: str, hours: float, billable: float, entries: int) -> dict[str, Any]:
    return {
        "project_id": project,
        "project_name": name,
        "hours": hours,
        "billable_hours": billable,
        "entries": entries,
        "billable_amount": 0.0,  # no rates
    }


async def test_a_report_as_of_a_past_moment_stays_the_same_after_later_edits(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    web = await new_project(api, admin, "Web")
    app = await new_project(api, admin, "App")
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    first = await new_entry(api, alice, web, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    second = await new_entry(
        api, alice, app, "2024-01-16T09:00:00Z", "2024-01-16T10:30:00Z", billable=False
    )
    bobs = await new_entry(api, bob, web, "2024-01-15T13:00:00Z", "2024-01-15T13:20:00Z")
    last_write = await _position(api, "POST", f"{TIMER}/start", alice, {"project_id": web})
    moment = await _moment()
    expected = {
        "start_date": "2024-01-01T00:00:00Z",
        "end_date": "2024-01-31T23:59:59Z",
        "total_hours": 2.83,
        "billable_hours": 1.33,
        "total_entries": 3,
        "tz": "UTC",
        "billable_amount": 0.0,
        "currency": "EUR",
        "by_project": [_row(web, "Web", 1.33, 1.33, 2), _row(app, "App", 1.5, 0.0, 1)],
        "as_of": _stamp(moment),
        "position": last_write,
    }

    before, position = await _as_of(api, f"{SUMMARY}?{JAN}", admin, moment)
    alices_before, _ = await _as_of(api, f"{SUMMARY}?{JAN}", alice, moment)
    current_before = await summary(api, admin, JAN)

    assert before == {"summary": expected}
    assert position == last_write
    assert {**current_before, "as_of": _stamp(moment), "position": last_write} == expected
    assert alices_before["summary"]["total_entries"] == 2
    assert alices_before["summary"]["total_hours"] == 2.5

    # Later: old entries edited, moved, deleted and restored, a new one, a rename, a stop.
    path = f"{ENTRIES}/{first['id']}"
    await _position(api, "PATCH", path, alice, {"end_time": "2024-01-15T12:00:00Z"})
    await _position(
        api, "PATCH", f"{ENTRIES}/{second['id']}", alice, {"billable": True, "project_id": web}
    )
    await _position(api, "DELETE", f"{ENTRIES}/{bobs['id']}", bob, None)
    await _position(api, "DELETE", path, alice, None)
    await _position(api, "POST", f"{path}/restore", alice, None)
    await new_entry(api, bob, app, "2024-01-20T09:00:00Z", "2024-01-20T11:00:00Z")
    await _position(api, "PATCH", f"/api/v1/projects/{web}", admin, {"name": "Website"})
    await _position(api, "POST", f"{TIMER}/stop", alice, None)

    after, position_after = await _as_of(api, f"{SUMMARY}?{JAN}", admin, moment)
    alices_after, _ = await _as_of(api, f"{SUMMARY}?{JAN}", alice, moment)
    current = await summary(api, admin, JAN)

    assert after == before
    assert position_after == position
    assert alices_after == alices_before
    assert (current["total_hours"], current["billable_hours"], current["total_entries"]) == (
        6.5,
        6.5,
        3,
    )
    assert current["by_project"] == [
        _row(web, "Website", 4.5, 4.5, 2),
        _row(app, "App", 2.0, 2.0, 1),
    ]
    now, _ = await _as_of(api, f"{SUMMARY}?{JAN}", admin, await _moment())
    assert {k: v for k, v in now["summary"].items() if k not in ("as_of", "position")} == current


async def test_a_report_as_of_just_now_includes_the_write_just_answered(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    web = await new_project(api, admin, "Web")
    alice = await make_user("alice", EVERYTHING)
    empty, at_start = await _as_of(api, f"{SUMMARY}?{JAN}", alice, await _moment())
    assert empty["summary"]["total_entries"] == 0

    for hour in range(9, 14):
        response = await api.post(
            ENTRIES,
            json={
                "project_id": web,
                "start_time": f"2024-01-10T{hour:02d}:00:00Z",
                "end_time": f"2024-01-10T{hour:02d}:30:00Z",
            },
            headers=alice.headers,
        )
        assert response.status == 201
        written = int(response.headers["X-Event-Position"])
        report, position = await _as_of(api, f"{SUMMARY}?{JAN}", alice, datetime.now(UTC))
        assert position == written
        assert report["summary"]["total_entries"] == hour - 8
    assert at_start < written
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    old, position = await _as_of(api, f"{SUMMARY}?{JAN}", alice, long_ago)
    assert position == 0
    assert (old["summary"]["total_entries"], old["summary"]["by_project"]) == (0, [])
    # the default window ends on the day of `as_of`
    window, _ = await _as_of(api, SUMMARY, alice, long_ago)
    assert window["summary"]["end_date"] == "2020-01-01T23:59:59Z"
    assert window["summary"]["start_date"] == "2019-12-02T00:00:00Z"


async def test_an_entry_as_of_each_moment_of_its_life(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    web = await new_project(api, admin, "Web")
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    before_it = await _moment()
    entry = await new_entry(
        api, alice, web, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z", notes="v1"
    )
    path = f"{ENTRIES}/{entry['id']}"
    as_created = await _moment()
    edited = await _position(api, "PATCH", path, alice, {"notes": "v2", "tags": "x"})
    as_edited = await _moment()
    await _position(api, "DELETE", path, alice, None)
    as_deleted = await _moment()
    restored = await _position(api, "POST", f"{path}/restore", alice, None)
    as_restored = await _moment()

    created_then, position = await _as_of(api, path, alice, as_created)
    assert created_then["time_entry"] == entry
    assert created_then["as_of"] == {"time": _stamp(as_created), "position": position}
    edited_then, position = await _as_of(api, path, alice, as_edited)
    assert position == edited
    assert (edited_then["time_entry"]["notes"], edited_then["time_entry"]["tag_list"]) == (
        "v2",
        ["x"],
    )
    assert edited_then["time_entry"]["version"] == 2
    response = await api.get(f"{path}?as_of={_stamp(as_edited)}", headers=alice.headers)
    assert response.headers["ETag"] == '"2"'
    gone = await api.get(f"{path}?as_of={_stamp(as_deleted)}", headers=alice.headers)
    body = await error_body(gone, 404, "deleted")
    assert body["history_url"] == f"{path}/history"
    back, position = await _as_of(api, path, alice, as_restored)
    assert position == restored
    assert back["time_entry"] == (await get_json(api, path, alice))["time_entry"]
    assert back["time_entry"]["version"] == 4
    missing = await api.get(f"{path}?as_of={_stamp(before_it)}", headers=alice.headers)
    await error_body(missing, 404, "not_found")
    for moment in (as_created, as_deleted, as_restored):
        others = await api.get(f"{path}?as_of={_stamp(moment)}", headers=bob.headers)
        await error_body(others, 404, "not_found")
    assert (await _as_of(api, path, admin, as_edited))[0] == edited_then


async def test_projects_clients_and_tasks_as_of_show_their_past_names(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    client = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    project = await created(
        api, "/api/v1/projects", {"name": "Site", "client_id": client["id"]}, admin.headers
    )
    task = await created(api, TASKS, {"project_id": project["id"], "name": "Draft"}, admin.headers)
    moment = await _moment()
    await _position(api, "PATCH", f"/api/v1/clients/{client['id']}", admin, {"name": "Acme Ltd"})
    await _position(api, "PATCH", f"/api/v1/projects/{project['id']}", admin, {"name": "Site 2"})
    await _position(api, "DELETE", f"/api/v1/projects/{project['id']}", admin, None)
    await _position(api, "DELETE", f"{TASKS}/{task['id']}", admin, None)
    reader = await make_user("reader", ["read:*"])

    project_then, _ = await _as_of(api, f"/api/v1/projects/{project['id']}", reader, moment)
    client_then, _ = await _as_of(api, f"/api/v1/clients/{client['id']}", reader, moment)
    task_then, position = await _as_of(api, f"{TASKS}/{task['id']}", reader, moment)

    assert project_then["project"] == project
    assert project_then["project"]["client"] == "Acme"
    assert client_then["client"] == client
    assert task_then["task"] == task
    assert task_then["as_of"]["position"] == position
    now = await get_json(api, f"/api/v1/projects/{project['id']}", reader)
    assert (now["project"]["name"], now["project"]["client"], now["project"]["status"]) == (
        "Site 2",
        "Acme Ltd",
        "archived",
    )
    gone = await api.get(
        f"{TASKS}/{task['id']}?as_of={_stamp(await _moment())}", headers=reader.headers
    )
    await error_body(gone, 404, "deleted")
    early = datetime(2021, 6, 1, tzinfo=UTC)
    for path in (f"/api/v1/projects/{project['id']}", f"/api/v1/clients/{client['id']}"):
        response = await api.get(f"{path}?as_of={_stamp(early)}", headers=reader.headers)
        await error_body(response, 404, "not_found")
        assert response.headers["X-Event-Position"] == "0"


async def test_as_of_must_be_a_past_rfc_3339_moment(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    web = await new_project(api, admin, "Web")
    alice = await make_user("alice", EVERYTHING)
    entry = await new_entry(api, alice, web, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    future = _stamp(datetime.now(UTC) + timedelta(hours=1))

    for path in (f"{ENTRIES}/{entry['id']}", SUMMARY, f"/api/v1/projects/{web}"):
        for value in (future, "yesterday", "2024-02-30T00:00:00Z", "2024-01-15"):
            response = await api.get(f"{path}?as_of={value}", headers=alice.headers)
            body = await error_body(response, 400, "validation_error")
            assert set(body["errors"]) == {"as_of"}, (path, value, body)


async def test_as_of_reports_at_every_step_equal_the_live_reports_then_also_after_a_rebuild(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    """Two independent computations: the live rollups (Redis) taken after each step, and
    the entry versions (PostgreSQL) asked as of each step afterwards, live and rebuilt."""
    web = await new_project(api, admin, "Web")
    ops = await new_project(api, admin, "Ops")
    alice = await make_user("alice", EVERYTHING)
    steps: list[tuple[datetime, dict[str, Any]]] = []

    async def step(method: str, path: str, body: Any = None) -> None:
        await _position(api, method, path, alice, body)
        steps.append((await _moment(), await summary(api, admin, JAN)))

    for day, project in [(10, web), (11, ops), (12, web)]:
        values = {
            "project_id": project,
            "start_time": f"2024-01-{day}T09:00:00Z",
            "end_time": f"2024-01-{day}T10:15:00Z",
        }
        await step("POST", ENTRIES, values)
    await step("PATCH", f"{ENTRIES}/1", {"end_time": "2024-01-10T12:00:00Z"})
    await step("PATCH", f"{ENTRIES}/2", {"project_id": web, "billable": False})
    await step(
        "PATCH",
        f"{ENTRIES}/3",
        {"start_time": "2024-02-01T09:00:00Z", "end_time": "2024-02-01T09:30:00Z"},
    )
    await step("PATCH", f"{ENTRIES}/1", {"notes": "only notes"})
    await step("DELETE", f"{ENTRIES}/2")
    await step("POST", f"{ENTRIES}/2/restore")
    await step("POST", f"{ENTRIES}/3/revert", {"version": 1})
    await step("POST", f"{ENTRIES}/1/revert", {"version": 1})
    await step("PATCH", f"/api/v1/projects/{ops}", {"name": "Operations"})
    await step("DELETE", f"{ENTRIES}/1")
    assert len({str(report) for _, report in steps}) >= 9  # the steps really differ

    async def replayed() -> list[dict[str, Any]]:
        return [(await _as_of(api, f"{SUMMARY}?{JAN}", admin, moment))[0] for moment, _ in steps]

    def live(report: dict[str, Any], moment: datetime, position: int) -> dict[str, Any]:
        return {"summary": {**report, "as_of": _stamp(moment), "position": position}}

    answers = await replayed()
    for (moment, report), answer in zip(steps, answers, strict=True):
        assert answer == live(report, moment, answer["summary"]["position"])

    store = api.app[time_tracking_key]
    projection = TimeTravelProjection()
    rebuilt = await asyncio.get_running_loop().run_in_executor(
        None, rebuild, store, projection, api.app[settings_key].conninfo
    )
    assert rebuilt.old_schema != rebuilt.new_schema
    assert await replayed() == answers
