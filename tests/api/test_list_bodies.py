"""Lists answered from the rows' stored JSON: the same document as the single resource, to
the number type, and kept right when another resource it shows changes."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser
from tests.api.helpers import created


def _canonical(document: Any) -> str:
    """The document with sorted keys: `50` and `50.0` differ here, as they do on the wire."""
    return json.dumps(document, sort_keys=True)


async def _listed(api: TestClient, user: ApiUser, path: str, key: str) -> list[Any]:
    response = await api.get(f"/api/v1/{path}", headers=user.headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    items: list[Any] = (await response.json())[key]
    return items


async def _single(api: TestClient, user: ApiUser, path: str, key: str) -> Any:
    response = await api.get(f"/api/v1/{path}", headers=user.headers)
    assert response.status == 200, await response.text()
    return (await response.json())[key]


async def test_every_list_shows_each_row_exactly_as_its_single_resource(
    api: TestClient, admin: ApiUser
) -> None:
    headers = admin.headers
    client = await created(
        api, "/api/v1/clients", {"name": "Acme", "default_hourly_rate": 80.0}, headers
    )
    whole = await created(
        api,
        "/api/v1/projects",
        {"name": "Whole", "client_id": client["id"], "hourly_rate": 50.0, "estimated_hours": 10},
        headers,
    )
    await created(
        api, "/api/v1/projects", {"name": "Cents", "hourly_rate": 50.25, "billable": False}, headers
    )
    await created(
        api,
        "/api/v1/tasks",
        {"project_id": whole["id"], "name": "Triage", "priority": "urgent", "description": None},
        headers,
    )
    entries = [
        {"start_time": "2024-01-15T09:00:00Z", "end_time": "2024-01-15T09:20:00Z", "tags": ""},
        {
            "start_time": "2024-01-15T10:00:00.250000Z",
            "end_time": "2024-01-15T12:59:59.500000Z",
            "tags": ["a", "b c"],
            "notes": 'quote " and \\ and é',
        },
        {"start_time": "2024-01-16T08:00:00Z"},  # running
    ]
    for values in entries:
        await created(api, "/api/v1/time-entries", {"project_id": whole["id"], **values}, headers)

    for path, key, one in (
        ("clients", "clients", "client"),
        ("projects", "projects", "project"),
        ("tasks", "tasks", "task"),
        ("time-entries?include_active=true", "time_entries", "time_entry"),
    ):
        listed = await _listed(api, admin, path, key)
        assert listed, path
        for item in listed:
            single_path = f"{path.split('?')[0]}/{item['id']}"
            single = await _single(api, admin, single_path, one)
            assert _canonical(item) == _canonical(single), single_path


async def test_a_renamed_client_is_shown_by_its_projects_in_the_list(
    api: TestClient, admin: ApiUser
) -> None:
    headers = admin.headers
    acme = await created(api, "/api/v1/clients", {"name": "Acme"}, headers)
    other = await created(api, "/api/v1/clients", {"name": "Other"}, headers)
    first = await created(api, "/api/v1/projects", {"name": "A", "client_id": acme["id"]}, headers)
    second = await created(api, "/api/v1/projects", {"name": "B", "client_id": acme["id"]}, headers)

    renamed = await api.patch(
        f"/api/v1/clients/{acme['id']}", json={"name": "Acme Corp"}, headers=headers
    )
    assert renamed.status == 200, await renamed.text()
    moved = await api.patch(
        f"/api/v1/projects/{second['id']}", json={"client_id": other["id"]}, headers=headers
    )
    assert moved.status == 200, await moved.text()

    listed = {p["id"]: p for p in await _listed(api, admin, "projects", "projects")}
    assert (listed[first["id"]]["client_id"], listed[first["id"]]["client"]) == (
        acme["id"],
        "Acme Corp",
    )
    assert (listed[second["id"]]["client_id"], listed[second["id"]]["client"]) == (
        other["id"],
        "Other",
    )
    for project in listed.values():
        single = await _single(api, admin, f"projects/{project['id']}", "project")
        assert _canonical(project) == _canonical(single)


async def test_the_users_list_shows_each_user_as_the_api_does(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    await make_user("ann", ["read:users"])

    listed = await _listed(api, admin, "users", "users")

    assert [user["username"] for user in listed] == ["root", "ann"]
    me = await _single(api, admin, "users/me", "user")
    assert _canonical(listed[0]) == _canonical(me)
