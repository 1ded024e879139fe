"""List totals from the kept counts (`projections/entry_counts.py`): the same total a count of
the rows gives, through creates, timers, edits, deletes and restores, and verify catches a
count that drifts."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import psycopg
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser
from tests.api.helpers import created
from timetracker.http.keys import time_tracking_key
from timetracker.http.settings import Settings
from timetracker.projections.engine.runner import create_schema
from timetracker.projections.engine.verify import verify
from timetracker.projections.registry import all_projections
from timetracker.projections.time_entries import TimeEntriesProjection


async def _total(api: TestClient, user: ApiUser, query: str) -> int:
    # per_page=1 leaves the total open on the first page: it is counted, not the page's length.
    response = await api.get(f"/api/v1/time-entries?per_page=1&{query}", headers=user.headers)
    assert response.status == 200, await response.text()
    return int((await response.json())["pagination"]["total"])


def _expected(
    entries: dict[int, dict[str, Any]], user_id: int | None, active: bool, **wanted: Any
) -> int:
    return sum(
        1
        for entry in entries.values()
        if (user_id is None or entry["user_id"] == user_id)
        and all(entry[name] == value for name, value in wanted.items() if value is not None)
        and (active or entry["end_time"] is not None)
    )


async def test_totals_match_the_rows_through_every_kind_of_change(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    chance = random.Random(21)
    projects = [
        (await created(api, "/api/v1/projects", {"name": f"P{n}"}, admin.headers))["id"]
        for n in range(3)
    ]
    users = [await make_user(f"counted{n}", ["read:*", "write:*"]) for n in range(2)]
    entries: dict[int, dict[str, Any]] = {}
    for number in range(30):
        user = users[number % 2]
        start = f"2024-03-{1 + number % 27:02d}T09:00:00Z"
        values = {
            "project_id": chance.choice(projects),
            "start_time": start,
            "end_time": start.replace("09:", "10:"),
            "billable": chance.random() < 0.5,
        }
        made = await created(api, "/api/v1/time-entries", values, user.headers)
        entries[made["id"]] = {**made, "user_id": user.id}
    running = await api.post(
        "/api/v1/timer/start", json={"project_id": projects[0]}, headers=users[0].headers
    )
    assert running.status == 201, await running.text()
    timer = (await running.json())["timer"]
    entries[timer["id"]] = {**timer, "user_id": users[0].id}
    ids = sorted(entries)
    for entry_id in chance.sample([i for i in ids if i != timer["id"]], 8):
        owner = next(u for u in users if u.id == entries[entry_id]["user_id"])
        change = {"project_id": chance.choice(projects), "billable": chance.random() < 0.5}
        edited = await api.patch(
            f"/api/v1/time-entries/{entry_id}", json=change, headers=owner.headers
        )
        assert edited.status == 200, await edited.text()
        entries[entry_id] |= change
    gone = chance.sample([i for i in ids if i != timer["id"]], 5)
    for entry_id in gone:
        owner = next(u for u in users if u.id == entries[entry_id]["user_id"])
        deleted = await api.delete(f"/api/v1/time-entries/{entry_id}", headers=owner.headers)
        assert deleted.status == 200, await deleted.text()
    back = await api.post(f"/api/v1/time-entries/{gone[0]}/restore", headers=admin.headers)
    assert back.status in (200, 201), await back.text()
    live = {i: e for i, e in entries.items() if i not in gone[1:]}

    async def check(live: dict[int, dict[str, Any]]) -> None:
        for project, billable, active in itertools.product(
            [None, *projects], [None, True, False], [False, True]
        ):
            parts = [f"include_active={str(active).lower()}"]
            if project is not None:
                parts.append(f"project_id={project}")
            if billable is not None:
                parts.append(f"billable={str(billable).lower()}")
            query = "&".join(parts)
            wanted = {"project_id": project, "billable": billable}
            assert await _total(api, admin, query) == _expected(live, None, active, **wanted)
            for user in users:
                expected = _expected(live, user.id, active, **wanted)
                assert await _total(api, user, query) == expected, (user.username, query)

    await check(live)
    stopped = await api.post("/api/v1/timer/stop", headers=users[0].headers)
    assert stopped.status == 200, await stopped.text()
    live[timer["id"]]["end_time"] = (await stopped.json())["time_entry"]["end_time"]
    await check(live)

    store = api.app[time_tracking_key]
    loop = asyncio.get_running_loop()
    projection = TimeEntriesProjection()
    checked = await loop.run_in_executor(None, verify, store, projection, settings.conninfo)
    assert checked.ok, checked.mismatches
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE time_entry_counts SET entries = entries + 1 WHERE user_id = %s AND finished",
            (users[1].id,),
        )
    drifted = await loop.run_in_executor(None, verify, store, projection, settings.conninfo)
    assert not drifted.ok
    assert all(m.startswith("time_entry_counts: ") for m in drifted.mismatches), drifted


async def test_a_read_model_built_before_the_counts_gets_them_at_start_up(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    project = (await created(api, "/api/v1/projects", {"name": "Old"}, admin.headers))["id"]
    user = await make_user("before_counts", ["read:*", "write:*"])
    for day in range(1, 8):
        start = f"2024-04-{day:02d}T09:00:00Z"
        values = {"project_id": project, "start_time": start, "billable": day % 2 == 0}
        await created(
            api,
            "/api/v1/time-entries",
            {**values, "end_time": start.replace("09:", "11:")},
            user.headers,
        )
    grouped = (
        "SELECT user_id, project_id, billable, end_time IS NOT NULL, count(*) FROM time_entries"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM time_entry_counts")  # as a database written before them
        create_schema(settings.conninfo, all_projections())
        counted = conn.execute("SELECT * FROM time_entry_counts ORDER BY 1, 2, 3, 4").fetchall()
        assert counted == conn.execute(grouped).fetchall()
        assert sum(row[4] for row in counted) == 7
        create_schema(settings.conninfo, all_projections())  # once only: not counted twice
        assert conn.execute("SELECT * FROM time_entry_counts ORDER BY 1, 2, 3, 4").fetchall() == (
            counted
        )
    assert await _total(api, user, "") == 7
