"""Assertions shared by the API tests: the error body, RFC 3339 times, quick writes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")

PAGINATION_KEYS = {
    "page",
    "per_page",
    "total",
    "pages",
    "has_next",
    "has_prev",
    "next_page",
    "prev_page",
}


def instant(text: str) -> datetime:
    """An RFC 3339 UTC time from a response, as an aware datetime."""
    assert RFC3339_UTC.match(text), text
    return datetime.fromisoformat(text)


async def error_body(response: ClientResponse, status: int, error_code: str) -> dict[str, Any]:
    """Assert `response` is the documented JSON error with this status and code; its body."""
    text = await response.text()
    assert response.status == status, f"{response.method} {response.url}: {text[:500]}"
    assert response.content_type == "application/json", text[:200]
    body: dict[str, Any] = await response.json()
    for key in ("error", "message", "error_code"):
        assert isinstance(body.get(key), str), body
        assert body[key], body
    assert body["error_code"] == error_code, body
    return body


async def created(
    api: TestClient, path: str, values: dict[str, Any], headers: dict[str, str]
) -> Any:
    """POST a resource that must be created; the resource from the 201 body."""
    response = await api.post(path, json=values, headers=headers)
    assert response.status == 201, await response.text()
    body = await response.json()
    (key,) = set(body) - {"message"}
    return body[key]
