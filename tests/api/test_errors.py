"""Router and transport errors answered with the JSON error body: 404, 405, 413."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents
from tests.api.helpers import created, error_body

NO_SUCH_ENDPOINT = {
    "error": "Not found",
    "message": "No such endpoint.",
    "error_code": "not_found",
}
ONE_MIB = 1024 * 1024


def _json_of_size(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (a project whose description is too long)."""
    frame = json.dumps({"name": "a", "description": ""}).encode()
    body = json.dumps({"name": "a", "description": "x" * (size - len(frame))}).encode()
    assert len(body) == size
    return body


async def test_an_unknown_route_is_404_with_the_json_error_body(
    api: TestClient, admin: ApiUser
) -> None:
    for path in (
        "/api/v1/nothing",
        "/api/v1/projects/1/members",
        "/api/v2/projects",
        "/api/v1/",
        "/",
        "/favicon.ico",
    ):
        for headers in ({}, admin.headers):
            response = await api.get(path, headers=headers)

            assert await error_body(response, 404, "not_found") == NO_SUCH_ENDPOINT, path


async def test_a_wrong_method_is_405_with_allow_and_the_json_error_body(
    api: TestClient, admin: ApiUser
) -> None:
    for method, path, allowed in [
        ("POST", "/api/v1/info", {"GET"}),
        ("DELETE", "/api/v1/health", {"GET"}),
        ("PUT", "/api/v1/projects", {"GET", "POST"}),
        ("DELETE", "/api/v1/projects", {"GET", "POST"}),
        ("POST", "/api/v1/projects/1", {"GET", "PUT", "PATCH", "DELETE"}),
        ("PATCH", "/api/v1/clients", {"GET", "POST"}),
        ("POST", "/api/v1/clients/1", {"GET", "PUT", "PATCH", "DELETE"}),
        ("POST", "/api/v1/users/me", {"GET", "PATCH"}),
        ("DELETE", "/api/v1/users", {"GET"}),
        ("HEAD", "/api/v1/projects", {"GET", "POST"}),
    ]:
        response = await api.request(method, path, headers=admin.headers)

        assert response.status == 405, (method, path)
        assert set(response.headers["Allow"].split(",")) == allowed, (method, path)
        if method != "HEAD":
            body = await error_body(response, 405, "method_not_allowed")
            assert set(body) == {"error", "message", "error_code"}


async def test_a_body_of_exactly_1_mib_is_read_and_one_byte_more_is_413(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    headers = {**admin.headers, "Content-Type": "application/json"}
    before = await count_events()

    at_limit = await api.post(
        "/api/v1/projects", data=io.BytesIO(_json_of_size(ONE_MIB)), headers=headers
    )
    over_limit = await api.post(
        "/api/v1/projects", data=io.BytesIO(_json_of_size(ONE_MIB + 1)), headers=headers
    )

    assert list((await error_body(at_limit, 400, "validation_error"))["errors"]) == ["description"]
    body = await error_body(over_limit, 413, "payload_too_large")
    assert body["error"] == "Payload too large"
    assert await count_events() == before


async def test_a_chunked_body_over_1_mib_is_413_too(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    project = await created(api, "/api/v1/projects", {"name": "Site"}, admin.headers)
    before = await count_events()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "b", "description": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    response = await api.patch(
        f"/api/v1/projects/{project['id']}",
        data=chunks(),
        headers={**admin.headers, "Content-Type": "application/json"},
    )

    await error_body(response, 413, "payload_too_large")
    assert await count_events() == before
