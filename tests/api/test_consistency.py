"""ETag / If-Match on single resources, and reading your own writes at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents
from tests.api.helpers import created, error_body

ApiWith = Callable[..., Awaitable[TestClient]]
RESOURCES = {"projects": "project", "clients": "client"}
CHANGES = {"PUT": {"name": "Renamed"}, "PATCH": {"name": "Renamed"}, "DELETE": None}


async def _version_two(api: TestClient, admin: ApiUser, collection: str) -> dict[str, Any]:
    """A resource changed once since its creation (so it is at version 2)."""
    resource = await created(api, f"/api/v1/{collection}", {"name": "First"}, admin.headers)
    path = f"/api/v1/{collection}/{resource['id']}"
    response = await api.patch(path, json={"name": "Second"}, headers=admin.headers)
    assert response.status == 200
    assert response.headers["ETag"] == '"2"'
    return dict((await response.json())[RESOURCES[collection]])


async def _fetch(api: TestClient, admin: ApiUser, path: str) -> tuple[str, dict[str, Any]]:
    response = await api.get(path, headers=admin.headers)
    assert response.status == 200
    body = await response.json()
    (resource,) = body.values()
    return response.headers["ETag"], resource


@pytest.mark.parametrize("collection", RESOURCES)
async def test_every_single_resource_response_carries_its_version_as_etag(
    api: TestClient, admin: ApiUser, collection: str
) -> None:
    key = RESOURCES[collection]
    create = await api.post(f"/api/v1/{collection}", json={"name": "A"}, headers=admin.headers)
    path = create.headers["Location"]
    assert create.headers["ETag"] == '"1"'
    assert await _fetch(api, admin, path) == ('"1"', (await create.json())[key])

    for version, method in enumerate(["PUT", "PATCH", "PUT"], start=2):
        response = await api.request(
            method, path, json={"name": f"N{version}"}, headers=admin.headers
        )
        assert response.headers["ETag"] == f'"{version}"'
        etag, shown = await _fetch(api, admin, path)
        assert (etag, shown["version"], shown["name"]) == (f'"{version}"', version, f"N{version}")

    archived = await api.delete(path, headers=admin.headers)
    assert archived.headers["ETag"] == '"5"'
    assert (await _fetch(api, admin, path))[0] == '"5"'


@pytest.mark.parametrize("method", CHANGES)
@pytest.mark.parametrize("collection", RESOURCES)
async def test_a_stale_if_match_is_refused_with_412_and_writes_nothing(
    api: TestClient, admin: ApiUser, count_events: CountEvents, collection: str, method: str
) -> None:
    current = await _version_two(api, admin, collection)
    path = f"/api/v1/{collection}/{current['id']}"
    before = await count_events()

    for stale in ('"1"', "1", 'W/"1"', '"3"', '"0"'):
        response = await api.request(
            method, path, json=CHANGES[method], headers={**admin.headers, "If-Match": stale}
        )

        body = await error_body(response, 412, "precondition_failed")
        assert set(body) == {"error", "message", "error_code"}
        assert await count_events() == before, stale
        assert await _fetch(api, admin, path) == ('"2"', current)


@pytest.mark.parametrize("method", CHANGES)
@pytest.mark.parametrize("collection", RESOURCES)
async def test_a_matching_if_match_lets_the_write_through(
    api: TestClient, admin: ApiUser, count_events: CountEvents, collection: str, method: str
) -> None:
    current = await _version_two(api, admin, collection)
    path = f"/api/v1/{collection}/{current['id']}"
    before = await count_events()

    response = await api.request(
        method, path, json=CHANGES[method], headers={**admin.headers, "If-Match": '"2"'}
    )

    assert response.status == 200, await response.text()
    assert response.headers["ETag"] == '"3"'
    assert await count_events() > before
    etag, shown = await _fetch(api, admin, path)
    assert (etag, shown["version"]) == ('"3"', 3)
    if method == "DELETE":
        assert shown["status"] == "archived"
    else:
        assert shown["name"] == "Renamed"


async def test_weak_bare_and_wildcard_if_match_forms_are_accepted(
    api: TestClient, admin: ApiUser
) -> None:
    current = await _version_two(api, admin, "projects")
    path = f"/api/v1/projects/{current['id']}"

    for version, if_match in enumerate(['W/"2"', "3", "*", ' "5" '], start=2):
        headers = {**admin.headers, "If-Match": if_match}
        response = await api.patch(path, json={"description": f"v{version}"}, headers=headers)

        assert response.status == 200, (if_match, await response.text())
        assert response.headers["ETag"] == f'"{version + 1}"'


async def test_an_if_match_that_is_no_etag_of_this_api_is_a_400_that_writes_nothing(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    current = await _version_two(api, admin, "clients")
    before = await count_events()

    for if_match in ("abc", '"v2"', '"2", "3"', '"99999999999"', '""', "-2"):
        response = await api.put(
            f"/api/v1/clients/{current['id']}",
            json={"name": "X"},
            headers={**admin.headers, "If-Match": if_match},
        )

        body = await error_body(response, 400, "validation_error")
        assert list(body["errors"]) == ["If-Match"], if_match
        assert await count_events() == before


@pytest.mark.parametrize("collection", RESOURCES)
async def test_each_write_is_visible_to_the_very_next_read(
    api: TestClient, admin: ApiUser, collection: str
) -> None:
    key = RESOURCES[collection]
    for round_number in range(20):
        create = await api.post(
            f"/api/v1/{collection}", json={"name": f"R{round_number}"}, headers=admin.headers
        )
        assert create.status == 201
        path = create.headers["Location"]
        listed = await api.get(f"/api/v1/{collection}?per_page=100", headers=admin.headers)
        assert (await listed.json())["pagination"]["total"] == round_number + 1
        assert (await _fetch(api, admin, path))[1]["name"] == f"R{round_number}"

        update = await api.patch(
            path, json={"name": f"R{round_number}-changed"}, headers=admin.headers
        )
        assert update.status == 200
        assert (await _fetch(api, admin, path))[1]["name"] == f"R{round_number}-changed"

        archive = await api.delete(path, headers=admin.headers)
        assert archive.status == 200
        etag, shown = await _fetch(api, admin, path)
        assert (etag, shown["status"]) == ('"3"', "archived")
        archived = await api.get(f"/api/v1/{collection}?status=archived", headers=admin.headers)
        assert [item["id"] for item in (await archived.json())[collection]][-1] == shown["id"]
        assert "X-Read-Your-Writes" not in archive.headers
        assert (await create.json())[key]["id"] == shown["id"]


@pytest.mark.parametrize("collection", RESOURCES)
async def test_of_concurrent_writes_naming_one_version_exactly_one_succeeds(
    api: TestClient, admin: ApiUser, count_events: CountEvents, collection: str
) -> None:
    current = await _version_two(api, admin, collection)
    path = f"/api/v1/{collection}/{current['id']}"
    before = await count_events()

    responses = await asyncio.gather(
        *[
            api.patch(
                path,
                json={"name": f"Writer {number}"},
                headers={**admin.headers, "If-Match": '"2"'},
            )
            for number in range(8)
        ]
    )

    assert sorted(r.status for r in responses) == [200] + [412] * 7
    (winner,) = [r for r in responses if r.status == 200]
    etag, shown = await _fetch(api, admin, path)
    assert etag == '"3"'
    assert shown["name"] == (await winner.json())[RESOURCES[collection]]["name"]
    assert await count_events() == before + (1 if collection == "projects" else 3)


async def test_pages_and_reports_kept_by_another_process_show_a_write_at_once(
    api: TestClient, api_with: ApiWith, admin: ApiUser
) -> None:
    """Another serving process keeps the pages and reports it answered (per read-model
    position); a write answered by this one is in its very next answer all the same."""
    other = await api_with(run_projections=False)
    project = await created(api, "/api/v1/projects", {"name": "Kept"}, admin.headers)
    entries = "/api/v1/time-entries?per_page=5"
    summary = "/api/v1/reports/summary?start_date=2024-03-01&end_date=2024-03-31&tz=UTC"
    for written in range(12):
        for _ in range(2):  # the second answer is the kept one
            page = await (await other.get(entries, headers=admin.headers)).json()
            report = await (await other.get(summary, headers=admin.headers)).json()
            assert page["pagination"]["total"] == written
            assert report["summary"]["total_entries"] == written
        await created(
            api,
            "/api/v1/time-entries",
            {
                "project_id": project["id"],
                "start_time": f"2024-03-{written + 1:02d}T09:00:00Z",
                "end_time": f"2024-03-{written + 1:02d}T10:00:00Z",
            },
            admin.headers,
        )
    page = await (await other.get(entries, headers=admin.headers)).json()
    assert page["time_entries"][0]["start_time"][:10] == "2024-03-12"
