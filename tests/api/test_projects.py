"""Projects over HTTP: create, read, list, update, archive."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser


async def test_a_created_project_is_readable_at_once(api: TestClient, admin: ApiUser) -> None:
    created = await api.post(
        "/api/v1/projects", json={"name": "Website", "hourly_rate": 75.5}, headers=admin.headers
    )
    assert created.status == 201, await created.text()
    body = await created.json()
    assert body["message"] == "Project created successfully"
    project = body["project"]
    assert created.headers["Location"] == f"/api/v1/projects/{project['id']}"
    fetched = await api.get(created.headers["Location"], headers=admin.headers)
    assert fetched.status == 200
    assert (await fetched.json())["project"] == project
    assert project["hourly_rate"] == 75.5
    assert project["status"] == "active"
    assert project["created_at"].endswith("Z")
