"""Projects over HTTP: create, read, list, update, archive."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents
from tests.api.helpers import PAGINATION_KEYS, RFC3339_UTC, created, error_body, instant


async def _list(api: TestClient, user: ApiUser, query: str = "") -> dict[str, Any]:
    response = await api.get(f"/api/v1/projects{query}", headers=user.headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert set(body) == {"projects", "pagination"}
    assert set(body["pagination"]) == PAGINATION_KEYS
    return body


async def _get(api: TestClient, user: ApiUser, project_id: int) -> dict[str, Any]:
    response = await api.get(f"/api/v1/projects/{project_id}", headers=user.headers)
    assert response.status == 200, await response.text()
    project: dict[str, Any] = (await response.json())["project"]
    assert response.headers["ETag"] == f'"{project["version"]}"'
    return project


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


async def test_creating_a_project_answers_201_with_message_location_etag_and_defaults(
    api: TestClient, admin: ApiUser
) -> None:
    response = await api.post("/api/v1/projects", json={"name": "Website"}, headers=admin.headers)

    assert response.status == 201
    assert response.headers["Location"] == "/api/v1/projects/1"
    assert response.headers["ETag"] == '"1"'
    body = await response.json()
    assert set(body) == {"message", "project"}
    assert body["message"] == "Project created successfully"
    project = body["project"]
    assert RFC3339_UTC.match(project["created_at"])
    assert project["updated_at"] == project["created_at"]
    assert project == {
        "id": 1,
        "name": "Website",
        "description": None,
        "client_id": None,
        "client": None,
        "hourly_rate": None,
        "estimated_hours": None,
        "billable": True,
        "status": "active",
        "created_at": project["created_at"],
        "updated_at": project["created_at"],
        "archived_at": None,
        "version": 1,
    }


async def test_every_writable_project_field_is_stored_as_sent(
    api: TestClient, admin: ApiUser
) -> None:
    client = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    values = {
        "name": "Website Redesign",
        "description": "Complete website overhaul",
        "client_id": client["id"],
        "hourly_rate": 75,
        "estimated_hours": 120.25,
        "billable": False,
        "status": "on_hold",
    }

    project = await created(api, "/api/v1/projects", values, admin.headers)

    assert {key: project[key] for key in values} == values
    assert project["client"] == "Acme"
    assert await _get(api, admin, project["id"]) == project


async def test_values_come_back_exactly_as_sent(api: TestClient, admin: ApiUser) -> None:
    cases = [
        {"name": "Zero", "hourly_rate": 0, "estimated_hours": 0, "billable": False},
        {"name": "Fractions", "hourly_rate": 0.1, "estimated_hours": 123456789.123456},
        {"name": "Maximum", "hourly_rate": 1_000_000_000},
        {"name": "Unicode \u00e9\u4e2d\U0001f600", "description": ""},
    ]
    for values in cases:
        project = await created(api, "/api/v1/projects", values, admin.headers)

        assert {key: project[key] for key in values} == values
        shown = await _get(api, admin, project["id"])
        assert {key: shown[key] for key in values} == values


async def test_an_update_that_changes_nothing_writes_no_event(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    project = await created(api, "/api/v1/projects", {"name": "Same"}, admin.headers)
    before = await count_events()

    for values in ({}, {"name": "Same"}, {"billable": True, "description": None}):
        response = await api.patch(
            f"/api/v1/projects/{project['id']}", json=values, headers=admin.headers
        )

        assert response.status == 200
        assert response.headers["ETag"] == '"1"'
        assert (await response.json())["project"] == project
    assert await count_events() == before


async def test_a_name_may_be_200_characters_long(api: TestClient, admin: ApiUser) -> None:
    project = await created(api, "/api/v1/projects", {"name": "n" * 200}, admin.headers)

    assert (await _get(api, admin, project["id"]))["name"] == "n" * 200


async def test_ids_are_positive_integers_counted_per_resource_type(
    api: TestClient, admin: ApiUser
) -> None:
    await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    await created(api, "/api/v1/clients", {"name": "Globex"}, admin.headers)

    first = await created(api, "/api/v1/projects", {"name": "A"}, admin.headers)
    second = await created(api, "/api/v1/projects", {"name": "B"}, admin.headers)

    assert (first["id"], second["id"]) == (1, 2)


async def test_an_unknown_project_is_404_with_the_error_body(
    api: TestClient, admin: ApiUser
) -> None:
    response = await api.get("/api/v1/projects/42", headers=admin.headers)

    body = await error_body(response, 404, "not_found")
    assert body == {
        "error": "Not found",
        "message": "Project 42 not found.",
        "error_code": "not_found",
    }


async def test_a_project_with_an_unknown_client_is_a_validation_error_on_client_id(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    before = await count_events()

    response = await api.post(
        "/api/v1/projects", json={"name": "Site", "client_id": 7}, headers=admin.headers
    )

    body = await error_body(response, 400, "validation_error")
    assert list(body["errors"]) == ["client_id"]
    assert await count_events() == before
    assert (await _list(api, admin))["projects"] == []


async def test_changing_a_project_to_an_unknown_client_is_refused(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    project = await created(api, "/api/v1/projects", {"name": "Site"}, admin.headers)
    before = await count_events()

    response = await api.patch(
        f"/api/v1/projects/{project['id']}", json={"client_id": 3}, headers=admin.headers
    )

    body = await error_body(response, 400, "validation_error")
    assert list(body["errors"]) == ["client_id"]
    assert await count_events() == before
    assert await _get(api, admin, project["id"]) == project


async def test_a_project_shows_its_clients_current_name(api: TestClient, admin: ApiUser) -> None:
    client = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    project = await created(
        api, "/api/v1/projects", {"name": "Site", "client_id": client["id"]}, admin.headers
    )
    assert project["client"] == "Acme"

    renamed = await api.patch(
        f"/api/v1/clients/{client['id']}", json={"name": "Acme Corp"}, headers=admin.headers
    )
    assert renamed.status == 200

    assert (await _get(api, admin, project["id"]))["client"] == "Acme Corp"
    assert (await _list(api, admin))["projects"][0]["client"] == "Acme Corp"


async def test_the_list_defaults_to_page_1_of_50_in_id_order(
    api: TestClient, admin: ApiUser
) -> None:
    for name in ("C", "A", "B"):
        await created(api, "/api/v1/projects", {"name": name}, admin.headers)

    body = await _list(api, admin)

    assert [p["name"] for p in body["projects"]] == ["C", "A", "B"]
    assert [p["id"] for p in body["projects"]] == [1, 2, 3]
    assert body["pagination"] == {
        "page": 1,
        "per_page": 50,
        "total": 3,
        "pages": 1,
        "has_next": False,
        "has_prev": False,
        "next_page": None,
        "prev_page": None,
    }


async def test_the_list_is_paged_and_a_page_past_the_end_is_empty(
    api: TestClient, admin: ApiUser
) -> None:
    for number in range(1, 6):
        await created(api, "/api/v1/projects", {"name": f"P{number}"}, admin.headers)

    first = await _list(api, admin, "?per_page=2")
    middle = await _list(api, admin, "?page=2&per_page=2")
    last = await _list(api, admin, "?page=3&per_page=2")
    beyond = await _list(api, admin, "?page=4&per_page=2")

    assert [p["id"] for p in first["projects"]] == [1, 2]
    assert first["pagination"] == {
        "page": 1,
        "per_page": 2,
        "total": 5,
        "pages": 3,
        "has_next": True,
        "has_prev": False,
        "next_page": 2,
        "prev_page": None,
    }
    assert [p["id"] for p in middle["projects"]] == [3, 4]
    assert middle["pagination"] == {
        "page": 2,
        "per_page": 2,
        "total": 5,
        "pages": 3,
        "has_next": True,
        "has_prev": True,
        "next_page": 3,
        "prev_page": 1,
    }
    assert [p["id"] for p in last["projects"]] == [5]
    assert last["pagination"] == {
        "page": 3,
        "per_page": 2,
        "total": 5,
        "pages": 3,
        "has_next": False,
        "has_prev": True,
        "next_page": None,
        "prev_page": 2,
    }
    assert beyond["projects"] == []
    assert beyond["pagination"]["page"] == 4
    assert beyond["pagination"]["total"] == 5
    assert beyond["pagination"]["has_next"] is False
    assert beyond["pagination"]["next_page"] is None


async def test_per_page_above_100_is_clamped_to_100(api: TestClient, admin: ApiUser) -> None:
    for first in range(0, 101, 25):
        await asyncio.gather(
            *[
                created(api, "/api/v1/projects", {"name": f"P{number}"}, admin.headers)
                for number in range(first, min(first + 25, 101))
            ]
        )

    body = await _list(api, admin, "?per_page=1000")
    second = await _list(api, admin, "?per_page=101&page=2")

    assert len(body["projects"]) == 100
    assert body["pagination"] == {
        "page": 1,
        "per_page": 100,
        "total": 101,
        "pages": 2,
        "has_next": True,
        "has_prev": False,
        "next_page": 2,
        "prev_page": None,
    }
    assert [p["id"] for p in second["projects"]] == [101]


async def test_the_list_shows_every_status_unless_status_filters(
    api: TestClient, admin: ApiUser
) -> None:
    await created(api, "/api/v1/projects", {"name": "Live"}, admin.headers)
    await created(api, "/api/v1/projects", {"name": "Paused", "status": "on_hold"}, admin.headers)
    gone = await created(api, "/api/v1/projects", {"name": "Gone"}, admin.headers)
    archived = await api.delete(f"/api/v1/projects/{gone['id']}", headers=admin.headers)
    assert archived.status == 200

    def names(body: dict[str, Any]) -> list[str]:
        return [p["name"] for p in body["projects"]]

    assert names(await _list(api, admin)) == ["Live", "Paused", "Gone"]
    assert names(await _list(api, admin, "?status=active")) == ["Live"]
    assert names(await _list(api, admin, "?status=on_hold")) == ["Paused"]
    archived_only = await _list(api, admin, "?status=archived")
    assert names(archived_only) == ["Gone"]
    assert archived_only["pagination"]["total"] == 1


async def test_the_list_filters_by_client_and_by_client_and_status(
    api: TestClient, admin: ApiUser
) -> None:
    acme = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    globex = await created(api, "/api/v1/clients", {"name": "Globex"}, admin.headers)
    for name, client_id, status in [
        ("A1", acme["id"], "active"),
        ("G1", globex["id"], "active"),
        ("A2", acme["id"], "on_hold"),
        ("None", None, "active"),
    ]:
        values = {"name": name, "client_id": client_id, "status": status}
        await created(api, "/api/v1/projects", values, admin.headers)

    by_acme = await _list(api, admin, f"?client_id={acme['id']}")
    acme_active = await _list(api, admin, f"?client_id={acme['id']}&status=active")
    nobody = await _list(api, admin, "?client_id=99")

    assert [p["name"] for p in by_acme["projects"]] == ["A1", "A2"]
    assert by_acme["pagination"]["total"] == 2
    assert [p["name"] for p in acme_active["projects"]] == ["A1"]
    assert {p["client"] for p in by_acme["projects"]} == {"Acme"}
    assert nobody["projects"] == []
    assert nobody["pagination"]["total"] == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_an_update_changes_only_the_fields_sent(
    api: TestClient, admin: ApiUser, method: str
) -> None:
    client = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    original = await created(
        api,
        "/api/v1/projects",
        {
            "name": "Site",
            "description": "Old",
            "client_id": client["id"],
            "hourly_rate": 50,
            "estimated_hours": 10,
            "billable": True,
        },
        admin.headers,
    )

    response = await api.request(
        method,
        f"/api/v1/projects/{original['id']}",
        json={"hourly_rate": 90.5, "billable": False},
        headers=admin.headers,
    )

    assert response.status == 200, await response.text()
    assert response.headers["ETag"] == '"2"'
    body = await response.json()
    assert set(body) == {"message", "project"}
    assert body["message"] == "Project updated successfully"
    updated = body["project"]
    assert updated == {
        **original,
        "hourly_rate": 90.5,
        "billable": False,
        "version": 2,
        "updated_at": updated["updated_at"],
    }
    assert RFC3339_UTC.match(updated["updated_at"])
    assert instant(updated["updated_at"]) > instant(original["updated_at"])
    assert await _get(api, admin, original["id"]) == updated


async def test_an_update_can_clear_optional_fields_with_null(
    api: TestClient, admin: ApiUser
) -> None:
    client = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    project = await created(
        api,
        "/api/v1/projects",
        {"name": "Site", "description": "D", "client_id": client["id"], "hourly_rate": 5},
        admin.headers,
    )

    response = await api.patch(
        f"/api/v1/projects/{project['id']}",
        json={"description": None, "client_id": None, "hourly_rate": None},
        headers=admin.headers,
    )

    assert response.status == 200
    updated = (await response.json())["project"]
    assert (updated["description"], updated["client_id"], updated["client"]) == (None, None, None)
    assert updated["hourly_rate"] is None


async def test_updating_an_unknown_project_is_404(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    before = await count_events()

    response = await api.put("/api/v1/projects/9", json={"name": "X"}, headers=admin.headers)

    await error_body(response, 404, "not_found")
    assert await count_events() == before


async def test_deleting_a_project_archives_it_and_it_stays_readable(
    api: TestClient, admin: ApiUser
) -> None:
    project = await created(api, "/api/v1/projects", {"name": "Site"}, admin.headers)

    response = await api.delete(f"/api/v1/projects/{project['id']}", headers=admin.headers)

    assert response.status == 200
    assert await response.json() == {"message": "Project archived successfully"}
    assert response.headers["ETag"] == '"2"'
    archived = await _get(api, admin, project["id"])
    assert archived["status"] == "archived"
    assert RFC3339_UTC.match(archived["archived_at"])
    assert archived["version"] == 2
    assert archived["name"] == "Site"


async def test_archiving_a_project_twice_is_a_409_conflict_that_writes_nothing(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    project = await created(api, "/api/v1/projects", {"name": "Site"}, admin.headers)
    first = await api.delete(f"/api/v1/projects/{project['id']}", headers=admin.headers)
    assert first.status == 200
    before = await count_events()

    again = await api.delete(f"/api/v1/projects/{project['id']}", headers=admin.headers)

    await error_body(again, 409, "already_archived")
    assert await count_events() == before
    assert (await _get(api, admin, project["id"]))["version"] == 2


async def test_deleting_an_unknown_project_is_404(api: TestClient, admin: ApiUser) -> None:
    response = await api.delete("/api/v1/projects/5", headers=admin.headers)

    await error_body(response, 404, "not_found")


async def test_setting_status_archived_archives_and_setting_it_back_clears_archived_at(
    api: TestClient, admin: ApiUser
) -> None:
    project = await created(api, "/api/v1/projects", {"name": "Site"}, admin.headers)

    archived = await api.patch(
        f"/api/v1/projects/{project['id']}", json={"status": "archived"}, headers=admin.headers
    )
    assert archived.status == 200
    assert (await archived.json())["project"]["status"] == "archived"
    assert (await _get(api, admin, project["id"]))["archived_at"] is not None

    restored = await api.patch(
        f"/api/v1/projects/{project['id']}", json={"status": "active"}, headers=admin.headers
    )

    assert restored.status == 200
    shown = await _get(api, admin, project["id"])
    assert (shown["status"], shown["archived_at"]) == ("active", None)
