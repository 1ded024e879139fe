"""/api/v1/reports/summary over HTTP: exact totals, windows, scoping, edits, and a rebuild.

Every report here is compared with the exact numbers its entries add up to; the last test
rebuilds every read model from the event log in a second app and expects the same answers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser, close_promptly
from tests.api.helpers import error_body, instant
from tests.api.timekit import (
    ENTRIES,
    EVERYTHING,
    SUMMARY,
    TASKS,
    TIMER,
    archive_project,
    get_json,
    new_entry,
    new_project,
    new_task,
    summary,
)
from timetracker.http.keys import freshness_key
from timetracker.http.settings import Settings
from timetracker.projections.registry import REDIS_PROJECTION_NAMES, all_projections

JAN = "start_date=2024-01-01&end_date=2024-01-31"


def _row(project: int, name: str, hours: float, billable: float, entries: int) -> dict[str, Any]:
    return {
        "project_id": project,
        "project_name": name,
        "hours": hours,
        "billable_hours": billable,
        "entries": entries,
        "billable_amount": 0.0,  # no rates
    }


def _totals(report: dict[str, Any]) -> tuple[float, float, int]:
    return report["total_hours"], report["billable_hours"], report["total_entries"]


async def test_totals_are_exact_with_billable_split_and_per_project_rows(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    web = await new_project(api, admin, "Web")
    app = await new_project(api, admin, "App")
    ops = await new_project(api, admin, "Ops")
    alice = await make_user("alice", EVERYTHING)
    for hour in (9, 10, 11):  # three 20-minute entries: exactly one hour
        await new_entry(
            api, alice, web, f"2024-01-15T{hour:02d}:00:00Z", f"2024-01-15T{hour:02d}:20:00Z"
        )
    await new_entry(api, alice, app, "2024-01-16T09:00:00Z", "2024-01-16T09:45:00Z")
    await new_entry(api, alice, app, "2024-01-17T09:00:00Z", "2024-01-17T10:30:00Z", billable=False)
    for day in (18, 19, 20):  # 601 s each: 0.17 h apiece, but 1803 s are 0.50 h
        await new_entry(api, alice, ops, f"2024-01-{day}T08:00:00Z", f"2024-01-{day}T08:10:01Z")

    report = await summary(api, alice, JAN)

    assert report == {
        "start_date": "2024-01-01T00:00:00Z",
        "end_date": "2024-01-31T23:59:59Z",
        "total_hours": 3.75,
        "billable_hours": 2.25,
        "total_entries": 8,
        "tz": "UTC",
        "billable_amount": 0.0,
        "currency": "EUR",
        "by_project": [
            _row(web, "Web", 1.0, 1.0, 3),
            _row(app, "App", 2.25, 0.75, 2),
            _row(ops, "Ops", 0.5, 0.5, 3),
        ],
    }
    only_web = await summary(api, alice, f"{JAN}&project_id={web}")
    assert _totals(only_web) == (1.0, 1.0, 3)
    assert only_web["by_project"] == [_row(web, "Web", 1.0, 1.0, 3)]
    one_day = await summary(api, alice, "start_date=2024-01-15&end_date=2024-01-15")
    assert _totals(one_day) == (1.0, 1.0, 3)
    assert _totals(await summary(api, alice, "start_date=2024-02-01&end_date=2024-02-29")) == (
        0.0,
        0.0,
        0,
    )


async def test_date_bounds_cover_whole_utc_days_and_no_more(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin, "Web")
    alice = await make_user("alice", EVERYTHING)
    for start, end in [
        ("2024-01-09T23:59:00Z", "2024-01-10T00:30:00Z"),  # starts the day before: out
        ("2024-01-10T00:00:00Z", "2024-01-10T00:30:00Z"),  # first moment of start_date: in
        ("2024-01-15T23:30:00Z", "2024-01-16T00:30:00Z"),  # 23:30 on end_date: in (1 h)
        ("2024-01-16T00:00:00Z", "2024-01-16T00:05:00Z"),  # midnight after end_date: out
        ("2024-01-16T00:10:00Z", "2024-01-16T01:00:00Z"),  # 00:10 the next day: out
        ("2024-01-16T05:00:00+05:30", "2024-01-16T06:00:00+05:30"),  # 23:30Z on the 15th: in
    ]:
        await new_entry(api, alice, project, start, end)

    report = await summary(api, alice, "start_date=2024-01-10&end_date=2024-01-15")

    assert (report["start_date"], report["end_date"]) == (
        "2024-01-10T00:00:00Z",
        "2024-01-15T23:59:59Z",
    )
    assert _totals(report) == (2.5, 2.5, 3)
    # the same window, asked for with date-times, counts the same whole days
    timed = await summary(
        api, alice, "start_date=2024-01-10T12:00:00Z&end_date=2024-01-15T00:00:00Z"
    )
    assert _totals(timed) == (2.5, 2.5, 3)
    assert _totals(await summary(api, alice, "start_date=2024-01-16&end_date=2024-01-16")) == (
        0.92,
        0.92,
        2,
    )


async def test_the_default_window_is_the_last_30_days_up_to_today(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin, "Web")
    alice = await make_user("alice", EVERYTHING)
    today = datetime.now(UTC).date()

    async def on_day(day: date, minutes: int) -> None:
        start = datetime.combine(day, time(0, 1), UTC)
        end = start + timedelta(minutes=minutes)
        await new_entry(api, alice, project, start.isoformat(), end.isoformat())

    await on_day(today, 30)
    await on_day(today - timedelta(days=10), 60)
    await on_day(today - timedelta(days=29), 90)
    await on_day(today - timedelta(days=40), 120)  # too old
    await on_day(today + timedelta(days=1), 240)  # tomorrow: after the window

    report = await summary(api, alice)

    assert report["end_date"] == f"{today.isoformat()}T23:59:59Z"
    assert report["start_date"] == f"{(today - timedelta(days=30)).isoformat()}T00:00:00Z"
    assert _totals(report) == (3.0, 3.0, 3)
    only_end = await summary(api, alice, f"end_date={(today - timedelta(days=5)).isoformat()}")
    assert _totals(only_end) == (2.5, 2.5, 2)  # 30 days back from the given end


async def test_normal_users_see_their_own_time_and_admins_everyones(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    web = await new_project(api, admin, "Web")
    app = await new_project(api, admin, "App")
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    reporter = await make_user("reporter", ["read:reports"])
    await new_entry(api, alice, web, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    await new_entry(api, bob, web, "2024-01-15T09:00:00Z", "2024-01-15T11:00:00Z", billable=False)
    await new_entry(api, bob, app, "2024-01-16T09:00:00Z", "2024-01-16T09:30:00Z")
    await new_entry(api, admin, app, "2024-01-16T12:00:00Z", "2024-01-16T12:15:00Z")

    alice_report = await summary(api, alice, JAN)
    bob_report = await summary(api, bob, JAN)
    everyone = await summary(api, admin, JAN)

    assert alice_report["by_project"] == [_row(web, "Web", 1.0, 1.0, 1)]
    assert _totals(alice_report) == (1.0, 1.0, 1)
    assert bob_report["by_project"] == [
        _row(web, "Web", 2.0, 0.0, 1),
        _row(app, "App", 0.5, 0.5, 1),
    ]
    assert _totals(everyone) == (3.75, 1.75, 4)
    assert everyone["by_project"] == [
        _row(web, "Web", 3.0, 1.0, 2),
        _row(app, "App", 0.75, 0.75, 2),
    ]
    assert await summary(api, alice, f"{JAN}&user_id={alice.id}") == alice_report
    assert await summary(api, admin, f"{JAN}&user_id={bob.id}") == bob_report
    assert _totals(await summary(api, admin, f"{JAN}&user_id={admin.id}")) == (0.25, 0.25, 1)
    assert _totals(await summary(api, admin, f"{JAN}&user_id=999")) == (0.0, 0.0, 0)
    assert _totals(await summary(api, admin, f"{JAN}&user_id={bob.id}&project_id={app}")) == (
        0.5,
        0.5,
        1,
    )
    assert _totals(await summary(api, reporter, JAN)) == (0.0, 0.0, 0)
    for user, other in ((alice, bob), (bob, admin), (reporter, alice)):
        response = await api.get(f"{SUMMARY}?{JAN}&user_id={other.id}", headers=user.headers)
        await error_body(response, 403, "forbidden")
    no_scope = await make_user("noscope", ["read:time_entries"])
    denied = await api.get(f"{SUMMARY}?{JAN}", headers=no_scope.headers)
    assert (await error_body(denied, 403, "forbidden"))["required_scope"] == "read:reports"
    await error_body(await api.get(SUMMARY), 401, "unauthorized")


async def test_edits_and_deletes_move_and_remove_time_and_running_timers_do_not_count(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    web = await new_project(api, admin, "Web")
    app = await new_project(api, admin, "App")
    alice = await make_user("alice", EVERYTHING)
    first = await new_entry(api, alice, web, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    second = await new_entry(api, alice, web, "2024-01-16T09:00:00Z", "2024-01-16T09:30:00Z")
    running = await new_entry(api, alice, web, "2024-01-16T13:00:00Z", None)
    window = "start_date=2024-01-15&end_date=2024-01-16"

    async def check(total: float, billable: float, entries: int, rows: list[Any]) -> None:
        report = await summary(api, alice, window)
        assert (_totals(report), report["by_project"]) == ((total, billable, entries), rows)

    async def patch(entry: dict[str, Any], values: dict[str, Any]) -> None:
        response = await api.patch(f"{ENTRIES}/{entry['id']}", json=values, headers=alice.headers)
        assert response.status == 200, await response.text()

    await check(1.5, 1.5, 2, [_row(web, "Web", 1.5, 1.5, 2)])
    await patch(first, {"end_time": "2024-01-15T11:00:00Z"})  # 1 h -> 2 h
    await check(2.5, 2.5, 2, [_row(web, "Web", 2.5, 2.5, 2)])
    await patch(second, {"billable": False, "project_id": app})
    await check(2.5, 2.0, 2, [_row(web, "Web", 2.0, 2.0, 1), _row(app, "App", 0.5, 0.0, 1)])
    await patch(first, {"start_time": "2024-01-14T10:00:00Z", "end_time": "2024-01-14T10:20:00Z"})
    await check(0.5, 0.0, 1, [_row(app, "App", 0.5, 0.0, 1)])  # moved out of the window
    early = await summary(api, alice, "start_date=2024-01-14&end_date=2024-01-14")
    assert early["by_project"] == [_row(web, "Web", 0.33, 0.33, 1)]
    await patch(running, {"end_time": "2024-01-16T14:15:00Z"})  # now it counts
    await check(1.75, 1.25, 2, [_row(web, "Web", 1.25, 1.25, 1), _row(app, "App", 0.5, 0.0, 1)])
    deleted = await api.delete(f"{ENTRIES}/{second['id']}", headers=alice.headers)
    assert deleted.status == 200
    await check(1.25, 1.25, 1, [_row(web, "Web", 1.25, 1.25, 1)])
    timer = await api.post(f"{TIMER}/start", json={"project_id": app}, headers=alice.headers)
    assert timer.status == 201
    day = instant((await timer.json())["timer"]["start_time"]).date().isoformat()
    assert _totals(await summary(api, alice, f"start_date={day}&end_date={day}")) == (0, 0, 0)


async def test_bad_report_queries_are_400_naming_the_parameter(
    api: TestClient, admin: ApiUser
) -> None:
    for query, field in [
        ("start_date=2024-02-30", "start_date"),
        ("end_date=2023-02-29", "end_date"),
        ("start_date=2024-13-01", "start_date"),
        ("start_date=15/01/2024", "start_date"),
        ("start_date=2024-01-15T25:00:00Z", "start_date"),
        ("start_date=1800-01-01", "start_date"),
        ("start_date=2024-01-31&end_date=2024-01-01", "end_date"),
        ("start_date=2000-01-01&end_date=2024-01-01", "start_date"),
        ("project_id=abc", "project_id"),
        ("project_id=0", "project_id"),
        ("project_id=1.5", "project_id"),
        ("user_id=-1", "user_id"),
        (f"user_id={2**31}", "user_id"),
    ]:
        response = await api.get(f"{SUMMARY}?{query}", headers=admin.headers)
        errors = (await error_body(response, 400, "validation_error"))["errors"]
        assert list(errors) == [field], (query, errors)


Snapshot = dict[str, Any]


async def _snapshot(api: TestClient, users: dict[str, ApiUser], projects: list[int]) -> Snapshot:
    """Every answer the read models give these users: reports, lists, timers, tasks."""
    taken: Snapshot = {}
    for name, user in users.items():
        reports = [JAN, "start_date=2024-01-15&end_date=2024-01-15", ""]
        reports += [f"{JAN}&project_id={p}" for p in projects]
        reports += [f"{JAN}&user_id={u.id}" for u in users.values() if name == "admin"]
        for query in reports:
            taken[f"{name} summary {query}"] = await summary(api, user, query)
        for query in ["include_active=true&per_page=100", "billable=false", "end_date=2024-01-15"]:
            taken[f"{name} entries {query}"] = await get_json(api, f"{ENTRIES}?{query}", user)
        taken[f"{name} timer"] = await get_json(api, f"{TIMER}/status", user)
    admin = users["admin"]
    taken["tasks"] = await get_json(api, f"{TASKS}?per_page=100", admin)
    taken["projects"] = await get_json(api, "/api/v1/projects", admin)
    return taken


async def test_reports_and_lists_are_the_same_after_a_rebuild_from_the_events(
    api: TestClient,
    api_with: Callable[..., Awaitable[TestClient]],
    admin: ApiUser,
    make_user: MakeUser,
    settings: Settings,
) -> None:
    web = await new_project(api, admin, "Web")
    app = await new_project(api, admin, "App")
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    task = await new_task(api, alice, web, "Gone", priority="urgent")
    await new_task(api, alice, app, "Stays", priority=1)
    for hour in (9, 10, 11):
        await new_entry(
            api, alice, web, f"2024-01-15T{hour:02d}:00:00Z", f"2024-01-15T{hour:02d}:20:00Z"
        )
    edited = await new_entry(api, alice, app, "2024-01-16T09:00:00Z", "2024-01-16T10:00:00Z")
    tasked = await new_entry(
        api, bob, web, "2024-01-15T23:30:00Z", "2024-01-16T00:10:00Z", task_id=task["id"]
    )
    doomed = await new_entry(api, bob, app, "2024-01-17T09:00:00Z", "2024-01-17T12:00:00Z")
    await new_entry(api, admin, app, "2024-01-18T09:00:00Z", "2024-01-18T09:07:30Z", user_id=bob.id)
    stopped = await new_entry(api, bob, web, "2024-01-19T08:00:00Z", None)
    await new_entry(api, alice, web, "2024-01-20T08:00:00Z", None, billable=False)  # runs on
    for user, method, path, values in [
        (alice, "PATCH", f"{ENTRIES}/{edited['id']}", {"end_time": "2024-01-16T10:45:00Z"}),
        (alice, "PUT", f"{ENTRIES}/{edited['id']}", {"billable": False, "project_id": web}),
        (bob, "PATCH", f"{ENTRIES}/{stopped['id']}", {"end_time": "2024-01-19T09:00:00Z"}),
        (bob, "DELETE", f"{ENTRIES}/{doomed['id']}", None),
        (alice, "DELETE", f"{TASKS}/{task['id']}", None),
        (alice, "PATCH", f"{TASKS}/{task['id'] + 1}", {"status": "done"}),
    ]:
        response = await api.request(method, path, json=values, headers=user.headers)
        assert response.status == 200, (path, await response.text())
    await archive_project(api, admin, app)
    users = {"alice": alice, "bob": bob, "admin": admin}
    before = await _snapshot(api, users, [web, app])
    # alice: 3 x 20 min + 1 h 45 min (not billable); bob: 40 min + 7 min 30 s + 1 h
    assert _totals(before[f"admin summary {JAN}"]) == (4.54, 2.79, 7)
    assert _totals(before[f"alice summary {JAN}"]) == (2.75, 1.0, 4)
    assert _totals(before[f"bob summary {JAN}"]) == (1.79, 1.79, 3)
    assert before["tasks"]["pagination"]["total"] == 1
    assert before["bob timer"] == {"active": False, "timer": None}
    assert before["alice timer"]["active"] is True
    assert tasked["id"] in [
        e["id"] for e in before["bob entries end_date=2024-01-15"]["time_entries"]
    ]

    await close_promptly(api, settings)
    tables = [table for projection in all_projections() for table in projection.tables]
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        # the tables themselves, wherever they live (public may hold views onto them)
        cursor = await conn.execute(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)"
            " FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE' AND table_name = ANY(%s)"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')",
            (tables,),
        )
        found = [row[0] for row in await cursor.fetchall()]
        assert len(found) >= len(tables), found
        await conn.execute(f"TRUNCATE {', '.join(found)}")
        await conn.execute("UPDATE projection_tracking SET position = 0")
        cursor = await conn.execute("SELECT count(*) FROM time_entries")
        assert await cursor.fetchone() == (0,)
    rebuilt = await api_with(redis_prefix=f"{settings.redis_prefix}rebuilt-{uuid.uuid4().hex}:")
    freshness = rebuilt.app[freshness_key]
    head = await freshness.head()
    names = [p.name for p in all_projections()] + sorted(REDIS_PROJECTION_NAMES)
    assert await freshness.wait_for(names, head, 20.0)
    assert await freshness.positions(names) == dict.fromkeys(names, head)

    after = await _snapshot(rebuilt, users, [web, app])

    assert list(after) == list(before)
    for key, value in before.items():
        assert after[key] == value, key


async def _rebuild(api: TestClient, admin: ApiUser, name: str) -> None:
    """Rebuild a read model through the admin API and wait until its job is done."""
    started = await api.post(f"/api/v1/admin/projections/{name}/rebuild", headers=admin.headers)
    assert started.status == 202, await started.text()
    for _ in range(300):
        job = (await get_json(api, started.headers["Location"], admin))["job"]
        if job["state"] != "running":
            break
        await asyncio.sleep(0.05)
    assert job["state"] == "done", job


async def test_a_rebuild_that_corrects_the_report_read_model_is_seen_at_the_same_position(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    """Reports and time zones are kept per read-model position; a corrective rebuild ends
    at the position the damaged copy had, and what was kept for it must not be shown."""
    web = await new_project(api, admin, "Web")
    alice = await make_user("alice", EVERYTHING)
    await new_entry(api, alice, web, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        # damage the live copy (through the views in public) without moving its position
        await conn.execute("UPDATE report_day_sums SET seconds = seconds * 3")
        await conn.execute(
            "UPDATE report_labels SET timezone = 'Asia/Tokyo' WHERE kind = 'user' AND id = %s",
            (alice.id,),
        )
    damaged = await summary(api, alice, f"{JAN}&tz=UTC")
    assert _totals(damaged) == (3.0, 1.0, 1)  # the damage shows, and is kept
    assert _totals(await summary(api, alice, f"{JAN}&tz=UTC")) == (3.0, 1.0, 1)
    assert (await summary(api, alice, JAN))["tz"] == "Asia/Tokyo"
    before = (await api.app[freshness_key].positions(["report_groups"]))["report_groups"]
    await _rebuild(api, admin, "report_groups")
    assert (await api.app[freshness_key].positions(["report_groups"]))["report_groups"] == before
    for _ in range(100):  # the switch's news reaches this process a moment after it commits
        repaired = await summary(api, alice, f"{JAN}&tz=UTC")
        if _totals(repaired) == (1.0, 1.0, 1):
            break
        await asyncio.sleep(0.02)
    assert _totals(repaired) == (1.0, 1.0, 1)
    assert (await summary(api, alice, JAN))["tz"] == "UTC"
