"""Time entries, timer, tasks and the summary report: the main paths over HTTP."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser


async def _project(api: TestClient, admin: ApiUser, name: str = "Web") -> int:
    response = await api.post("/api/v1/projects", json={"name": name}, headers=admin.headers)
    assert response.status == 201, await response.text()
    return int((await response.json())["project"]["id"])


async def test_three_twenty_minute_entries_make_exactly_one_hour(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await _project(api, admin)
    alice = await make_user("alice", ["read:*", "write:*"])
    for hour in (9, 10, 11):
        created = await api.post(
            "/api/v1/time-entries",
            json={
                "project_id": project,
                "start_time": f"2024-01-15T{hour:02d}:00:00Z",
                "end_time": f"2024-01-15T{hour:02d}:20:00Z",
                "billable": hour != 11,
            },
            headers=alice.headers,
        )
        assert created.status == 201, await created.text()
    report = await api.get(
        "/api/v1/reports/summary?start_date=2024-01-01&end_date=2024-01-15",
        headers=alice.headers,
    )
    assert report.status == 200, await report.text()
    summary = (await report.json())["summary"]
    assert summary["total_hours"] == 1.0
    assert summary["billable_hours"] == 0.67
    assert summary["total_entries"] == 3
    assert summary["by_project"] == [
        {
            "project_id": project,
            "project_name": "Web",
            "hours": 1.0,
            "billable_hours": 0.67,
            "entries": 3,
        }
    ]
    listed = await api.get(f"/api/v1/time-entries?project_id={project}", headers=alice.headers)
    body = await listed.json()
    assert [e["start_time"] for e in body["time_entries"]] == [
        "2024-01-15T11:00:00Z",
        "2024-01-15T10:00:00Z",
        "2024-01-15T09:00:00Z",
    ]
    assert body["time_entries"][0]["duration_hours"] == 0.33


async def test_twenty_concurrent_starts_give_one_timer(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await _project(api, admin)
    bob = await make_user("bob", ["read:*", "write:*"])
    responses = await asyncio.gather(
        *[
            api.post("/api/v1/timer/start", json={"project_id": project}, headers=bob.headers)
            for _ in range(20)
        ]
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] + [409] * 19, statuses
    codes = {(await r.json()).get("error_code") for r in responses if r.status == 409}
    assert codes == {"timer_already_running"}
    status = await (await api.get("/api/v1/timer/status", headers=bob.headers)).json()
    assert status["active"] is True
    listed = await api.get("/api/v1/time-entries?include_active=true", headers=bob.headers)
    assert (await listed.json())["pagination"]["total"] == 1
    stopped = await api.post("/api/v1/timer/stop", headers=bob.headers)
    assert stopped.status == 200, await stopped.text()
    assert (await stopped.json())["time_entry"]["is_active"] is False
    again = await api.post("/api/v1/timer/stop", headers=bob.headers)
    assert again.status == 409
    assert (await again.json())["error_code"] == "no_active_timer"


async def test_tasks_are_listed_by_priority_then_name(api: TestClient, admin: ApiUser) -> None:
    project = await _project(api, admin)
    for name, priority in (("b", "low"), ("a", 4), ("c", "urgent"), ("d", "medium")):
        created = await api.post(
            "/api/v1/tasks",
            json={"project_id": project, "name": name, "priority": priority},
            headers=admin.headers,
        )
        assert created.status == 201, await created.text()
    listed = await (await api.get("/api/v1/tasks", headers=admin.headers)).json()
    assert [t["name"] for t in listed["tasks"]] == ["a", "c", "d", "b"]
