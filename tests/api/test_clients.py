"""Clients over HTTP: create, read, list, update, archive; names unique among active clients."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents
from tests.api.helpers import PAGINATION_KEYS, RFC3339_UTC, created, error_body, instant

FULL_CLIENT = {
    "name": "Acme Corp",
    "email": "contact@acme.com",
    "company": "Acme Corporation",
    "phone": "+1-555-0123",
    "contact_person": "Wile E.",
    "address": "1 Desert Road",
    "default_hourly_rate": 80.5,
}


async def _list(api: TestClient, user: ApiUser, query: str = "") -> dict[str, Any]:
    response = await api.get(f"/api/v1/clients{query}", headers=user.headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert set(body) == {"clients", "pagination"}
    assert set(body["pagination"]) == PAGINATION_KEYS
    return body


async def _get(api: TestClient, user: ApiUser, client_id: int) -> dict[str, Any]:
    response = await api.get(f"/api/v1/clients/{client_id}", headers=user.headers)
    assert response.status == 200, await response.text()
    client: dict[str, Any] = (await response.json())["client"]
    assert response.headers["ETag"] == f'"{client["version"]}"'
    return client


async def test_creating_a_client_answers_201_with_message_location_etag_and_every_field(
    api: TestClient, admin: ApiUser
) -> None:
    response = await api.post("/api/v1/clients", json=FULL_CLIENT, headers=admin.headers)

    assert response.status == 201, await response.text()
    assert response.headers["Location"] == "/api/v1/clients/1"
    assert response.headers["ETag"] == '"1"'
    body = await response.json()
    assert set(body) == {"message", "client"}
    assert body["message"] == "Client created successfully"
    client = body["client"]
    assert RFC3339_UTC.match(client["created_at"])
    assert client == {
        "id": 1,
        **FULL_CLIENT,
        "status": "active",
        "created_at": client["created_at"],
        "updated_at": client["created_at"],
        "version": 1,
    }
    assert await _get(api, admin, 1) == client


async def test_a_client_with_only_a_name_has_null_optional_fields(
    api: TestClient, admin: ApiUser
) -> None:
    client = await created(api, "/api/v1/clients", {"name": "Solo"}, admin.headers)

    optional = ("email", "company", "phone", "contact_person", "address", "default_hourly_rate")
    assert {key: client[key] for key in optional} == dict.fromkeys(optional)
    assert client["status"] == "active"


async def test_an_unknown_client_is_404_with_the_error_body(
    api: TestClient, admin: ApiUser
) -> None:
    response = await api.get("/api/v1/clients/3", headers=admin.headers)

    assert await error_body(response, 404, "not_found") == {
        "error": "Not found",
        "message": "Client 3 not found.",
        "error_code": "not_found",
    }


async def test_the_list_is_paged_with_the_full_pagination_block(
    api: TestClient, admin: ApiUser
) -> None:
    for number in range(1, 4):
        await created(api, "/api/v1/clients", {"name": f"C{number}"}, admin.headers)

    default = await _list(api, admin)
    second = await _list(api, admin, "?page=2&per_page=2")
    beyond = await _list(api, admin, "?page=3&per_page=2")
    clamped = await _list(api, admin, "?per_page=500")

    assert [c["name"] for c in default["clients"]] == ["C1", "C2", "C3"]
    assert default["pagination"] == {
        "page": 1,
        "per_page": 50,
        "total": 3,
        "pages": 1,
        "has_next": False,
        "has_prev": False,
        "next_page": None,
        "prev_page": None,
    }
    assert [c["name"] for c in second["clients"]] == ["C3"]
    assert second["pagination"] == {
        "page": 2,
        "per_page": 2,
        "total": 3,
        "pages": 2,
        "has_next": False,
        "has_prev": True,
        "next_page": None,
        "prev_page": 1,
    }
    assert beyond["clients"] == []
    assert (beyond["pagination"]["total"], beyond["pagination"]["has_next"]) == (3, False)
    assert clamped["pagination"]["per_page"] == 100
    assert len(clamped["clients"]) == 3


async def test_the_list_shows_archived_clients_too_unless_status_filters(
    api: TestClient, admin: ApiUser
) -> None:
    await created(api, "/api/v1/clients", {"name": "Live"}, admin.headers)
    gone = await created(api, "/api/v1/clients", {"name": "Gone"}, admin.headers)
    assert (await api.delete(f"/api/v1/clients/{gone['id']}", headers=admin.headers)).status == 200

    everything = await _list(api, admin)
    active = await _list(api, admin, "?status=active")
    archived = await _list(api, admin, "?status=archived")

    assert [(c["name"], c["status"]) for c in everything["clients"]] == [
        ("Live", "active"),
        ("Gone", "archived"),
    ]
    assert [c["name"] for c in active["clients"]] == ["Live"]
    assert active["pagination"]["total"] == 1
    assert [c["name"] for c in archived["clients"]] == ["Gone"]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_an_update_changes_only_the_fields_sent(
    api: TestClient, admin: ApiUser, method: str
) -> None:
    original = await created(api, "/api/v1/clients", FULL_CLIENT, admin.headers)

    response = await api.request(
        method,
        f"/api/v1/clients/{original['id']}",
        json={"phone": "+1-555-9999", "default_hourly_rate": None},
        headers=admin.headers,
    )

    assert response.status == 200, await response.text()
    assert response.headers["ETag"] == '"2"'
    body = await response.json()
    assert set(body) == {"message", "client"}
    assert body["message"] == "Client updated successfully"
    updated = body["client"]
    assert updated == {
        **original,
        "phone": "+1-555-9999",
        "default_hourly_rate": None,
        "version": 2,
        "updated_at": updated["updated_at"],
    }
    assert instant(updated["updated_at"]) > instant(original["updated_at"])
    assert await _get(api, admin, original["id"]) == updated


async def test_updating_an_unknown_client_is_404(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    before = await count_events()

    response = await api.patch("/api/v1/clients/8", json={"name": "X"}, headers=admin.headers)

    await error_body(response, 404, "not_found")
    assert await count_events() == before


async def test_deleting_a_client_archives_it_and_it_stays_readable(
    api: TestClient, admin: ApiUser
) -> None:
    client = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)

    response = await api.delete(f"/api/v1/clients/{client['id']}", headers=admin.headers)

    assert response.status == 200
    assert await response.json() == {"message": "Client archived successfully"}
    assert response.headers["ETag"] == '"2"'
    shown = await _get(api, admin, client["id"])
    assert (shown["status"], shown["version"], shown["name"]) == ("archived", 2, "Acme")


async def test_archiving_a_client_twice_is_a_409_conflict_that_writes_nothing(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    client = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    first = await api.delete(f"/api/v1/clients/{client['id']}", headers=admin.headers)
    assert first.status == 200
    before = await count_events()

    again = await api.delete(f"/api/v1/clients/{client['id']}", headers=admin.headers)

    await error_body(again, 409, "already_archived")
    assert await count_events() == before


async def test_deleting_an_unknown_client_is_404(api: TestClient, admin: ApiUser) -> None:
    await error_body(await api.delete("/api/v1/clients/4", headers=admin.headers), 404, "not_found")


async def test_a_name_held_by_an_active_client_is_refused_whatever_its_case(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    before = await count_events()

    for duplicate in ("Acme", "ACME", "acme", "  Acme  ", "aCmE"):
        response = await api.post(
            "/api/v1/clients", json={"name": duplicate}, headers=admin.headers
        )

        await error_body(response, 409, "name_taken")
        assert await count_events() == before
    assert (await _list(api, admin))["pagination"]["total"] == 1


async def test_an_archived_clients_name_can_be_used_again(api: TestClient, admin: ApiUser) -> None:
    old = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    assert (await api.delete(f"/api/v1/clients/{old['id']}", headers=admin.headers)).status == 200

    new = await created(api, "/api/v1/clients", {"name": "acme"}, admin.headers)

    assert (new["id"], new["name"], new["status"]) == (2, "acme", "active")
    assert (await _get(api, admin, old["id"]))["status"] == "archived"


async def test_renaming_a_client_to_a_taken_name_is_refused_and_a_rename_frees_the_old_name(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    acme = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    globex = await created(api, "/api/v1/clients", {"name": "Globex"}, admin.headers)
    before = await count_events()

    taken = await api.patch(
        f"/api/v1/clients/{globex['id']}", json={"name": "ACME"}, headers=admin.headers
    )
    await error_body(taken, 409, "name_taken")
    assert await count_events() == before

    renamed = await api.put(
        f"/api/v1/clients/{acme['id']}", json={"name": "Acme Holdings"}, headers=admin.headers
    )
    assert renamed.status == 200
    reused = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    assert reused["id"] == 3


async def test_restoring_an_archived_client_whose_name_was_taken_meanwhile_is_refused(
    api: TestClient, admin: ApiUser
) -> None:
    old = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    assert (await api.delete(f"/api/v1/clients/{old['id']}", headers=admin.headers)).status == 200
    await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)

    response = await api.patch(
        f"/api/v1/clients/{old['id']}", json={"status": "active"}, headers=admin.headers
    )

    await error_body(response, 409, "name_taken")
    assert (await _get(api, admin, old["id"]))["status"] == "archived"


async def test_concurrent_creations_with_one_name_let_exactly_one_through(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    before = await count_events()

    responses = await asyncio.gather(
        *[
            api.post("/api/v1/clients", json={"name": name}, headers=admin.headers)
            for name in ["Race"] * 5 + ["RACE"] * 5
        ]
    )

    assert sorted(r.status for r in responses) == [201] + [409] * 9
    for response in responses:
        if response.status == 409:
            await error_body(response, 409, "name_taken")
    listed = await _list(api, admin)
    assert [c["name"].lower() for c in listed["clients"]] == ["race"]
    assert await count_events() == before + 2  # ClientCreated and the name's claim
