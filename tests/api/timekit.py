"""Helpers for the time-entry, timer, task and report API tests: setup through the API,
and direct looks at the event store (stream versions) that the API does not expose."""

from __future__ import annotations

from typing import Any

import psycopg
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser
from tests.api.helpers import created
from timetracker.domain.values import aggregate_id
from timetracker.http.settings import Settings

ENTRIES = "/api/v1/time-entries"
TASKS = "/api/v1/tasks"
TIMER = "/api/v1/timer"
SUMMARY = "/api/v1/reports/summary"
EVERYTHING = ["read:*", "write:*"]


async def new_project(api: TestClient, admin: ApiUser, name: str = "Web", **extra: Any) -> int:
    """Create a project (as `admin`); its id."""
    project = await created(api, "/api/v1/projects", {"name": name, **extra}, admin.headers)
    return int(project["id"])


async def archive_project(api: TestClient, admin: ApiUser, project_id: int) -> None:
    """Archive a project through `DELETE /projects/{id}`."""
    response = await api.delete(f"/api/v1/projects/{project_id}", headers=admin.headers)
    assert response.status == 200, await response.text()


async def new_task(
    api: TestClient, user: ApiUser, project_id: int, name: str = "Task", **extra: Any
) -> dict[str, Any]:
    """Create a task; the task from the 201 body."""
    task: dict[str, Any] = await created(
        api, TASKS, {"project_id": project_id, "name": name, **extra}, user.headers
    )
    return task


async def new_entry(
    api: TestClient,
    user: ApiUser,
    project_id: int,
    start: str,
    end: str | None,
    **extra: Any,
) -> dict[str, Any]:
    """Record a time entry (running when `end` is None); the entry from the 201 body."""
    values: dict[str, Any] = {"project_id": project_id, "start_time": start, **extra}
    if end is not None:
        values["end_time"] = end
    entry: dict[str, Any] = await created(api, ENTRIES, values, user.headers)
    return entry


async def get_json(api: TestClient, path: str, user: ApiUser, status: int = 200) -> Any:
    """GET `path` as `user`, asserting the status; the JSON body."""
    response = await api.get(path, headers=user.headers)
    assert response.status == status, f"GET {path}: {await response.text()}"
    return await response.json()


async def summary(api: TestClient, user: ApiUser, query: str = "") -> dict[str, Any]:
    """The `summary` object of `GET /reports/summary?<query>`."""
    body = await get_json(api, f"{SUMMARY}?{query}" if query else SUMMARY, user)
    result: dict[str, Any] = body["summary"]
    return result


async def listed_entries(api: TestClient, user: ApiUser, query: str = "") -> list[dict[str, Any]]:
    """The `time_entries` of one list page."""
    body = await get_json(api, f"{ENTRIES}?{query}", user)
    entries: list[dict[str, Any]] = body["time_entries"]
    return entries


async def stream_version(settings: Settings, kind: str, number: int) -> int:
    """The version of the last event of one aggregate's stream (0 when it has none)."""
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT coalesce(max(originator_version), 0) FROM timetracking_events"
            " WHERE originator_id = %s",
            (aggregate_id(kind, number),),
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])
