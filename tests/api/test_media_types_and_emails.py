"""A JSON endpoint refuses other media types with 415; email fields must be addresses."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents
from tests.api.helpers import created, error_body

JSON_ENDPOINTS = [
    ("POST", "/api/v1/clients"),
    ("PATCH", "/api/v1/clients/1"),
    ("PUT", "/api/v1/projects/1"),
    ("POST", "/api/v1/time-entries"),
    ("POST", "/api/v1/timer/start"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"name=Acme&project_id=1"),
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="a"'),
        ("text/plain", b'{"name": "Acme"}'),
        ("application/xml", b"<client><name>Acme</name></client>"),
    ],
)
async def test_a_body_that_is_not_json_is_415_and_writes_nothing(
    api: TestClient,
    admin: ApiUser,
    count_events: CountEvents,
    method: str,
    path: str,
    content_type: str,
    body: bytes,
) -> None:
    client = await created(api, "/api/v1/clients", {"name": "Seed"}, admin.headers)
    await created(
        api, "/api/v1/projects", {"name": "Seed", "client_id": client["id"]}, admin.headers
    )
    before = await count_events()
    response = await api.request(
        method, path, data=body, headers={**admin.headers, "Content-Type": content_type}
    )
    answer = await error_body(response, 415, "unsupported_media_type")
    assert "application/json" in answer["message"]
    assert await count_events() == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"],
)
async def test_json_with_or_without_its_content_type_is_read(
    api: TestClient, admin: ApiUser, content_type: str
) -> None:
    headers = {**admin.headers, "Content-Type": content_type}
    response = await api.post("/api/v1/clients", data=b'{"name": "Acme"}', headers=headers)
    assert response.status == 201, await response.text()


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@", "@example.com", "a b@example.com", "a@example", ""]
)
async def test_a_client_email_must_be_an_address(
    api: TestClient, admin: ApiUser, count_events: CountEvents, email: str
) -> None:
    before = await count_events()
    response = await api.post(
        "/api/v1/clients", json={"name": "Acme", "email": email}, headers=admin.headers
    )
    body = await error_body(response, 400, "validation_error")
    assert body["errors"]["email"] == ["Not a valid email address."], body
    assert await count_events() == before
    client = await created(
        api, "/api/v1/clients", {"name": "Acme", "email": "billing@acme.example"}, admin.headers
    )
    assert client["email"] == "billing@acme.example"
    patched = await api.patch(
        f"/api/v1/clients/{client['id']}", json={"email": email}, headers=admin.headers
    )
    await error_body(patched, 400, "validation_error")
    cleared = await api.patch(
        f"/api/v1/clients/{client['id']}", json={"email": None}, headers=admin.headers
    )
    assert cleared.status == 200, await cleared.text()
