"""Scopes: every route against no token, each single scope and each wildcard, for a normal
user and an admin user. Exactly the documented holders get through; the rest get 401 or 403."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import MakeToken, MakeUser
from tests.api.helpers import error_body

SINGLE_SCOPES = [
    "read:projects",
    "write:projects",
    "read:time_entries",
    "write:time_entries",
    "read:tasks",
    "write:tasks",
    "read:clients",
    "write:clients",
    "read:reports",
    "read:users",
    "read:audit",
    "read:webhooks",
    "write:webhooks",
]
ALL_GRANTS = [*SINGLE_SCOPES, "read:*", "write:*", "admin:all"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: dict[str, Any] | None
    scope: str
    # the status once the caller is let in: the request names nothing that exists,
    # or has an invalid body, so no route that lets a caller in writes anything
    passed: int
    admin_only: bool = False

    def holders(self, admin_user: bool) -> set[str]:
        """The grants that let this kind of user through, as the contract lists them."""
        if self.admin_only:
            return {"admin:all"} if admin_user else set()
        action = self.scope.split(":")[0]
        return {self.scope, f"{action}:*", "admin:all"}


ROUTES = [
    Route("GET", "/api/v1/projects", None, "read:projects", 200),
    Route("GET", "/api/v1/projects/99", None, "read:projects", 404),
    Route("POST", "/api/v1/projects", {}, "write:projects", 400),
    Route("PUT", "/api/v1/projects/99", {"name": "x"}, "write:projects", 404),
    Route("PATCH", "/api/v1/projects/99", {"name": "x"}, "write:projects", 404),
    Route("DELETE", "/api/v1/projects/99", None, "write:projects", 404),
    Route("GET", "/api/v1/clients", None, "read:clients", 200),
    Route("GET", "/api/v1/clients/99", None, "read:clients", 404),
    Route("POST", "/api/v1/clients", {}, "write:clients", 400),
    Route("PUT", "/api/v1/clients/99", {"name": "x"}, "write:clients", 404),
    Route("PATCH", "/api/v1/clients/99", {"name": "x"}, "write:clients", 404),
    Route("DELETE", "/api/v1/clients/99", None, "write:clients", 404),
    Route("GET", "/api/v1/webhooks", None, "read:webhooks", 200),
    Route("GET", "/api/v1/webhooks/99", None, "read:webhooks", 404),
    Route("POST", "/api/v1/webhooks", {}, "write:webhooks", 400),
    Route("PATCH", "/api/v1/webhooks/99", {"description": "x"}, "write:webhooks", 404),
    Route("DELETE", "/api/v1/webhooks/99", None, "write:webhooks", 404),
    Route("GET", "/api/v1/users/me", None, "read:users", 200),
    Route("GET", "/api/v1/users", None, "admin:all", 200, admin_only=True),
]


@pytest.mark.parametrize("admin_user", [False, True], ids=["normal user", "admin user"])
async def test_each_route_lets_in_exactly_the_documented_scopes(
    api: TestClient, make_user: MakeUser, make_token: MakeToken, admin_user: bool
) -> None:
    await make_user("someone", ["read:users"], admin=admin_user)
    tokens = {grant: (await make_token("someone", [grant])).token for grant in ALL_GRANTS}

    expected: dict[tuple[str, str, str], int] = {}
    actual: dict[tuple[str, str, str], int] = {}
    for route in ROUTES:
        anonymous = await api.request(route.method, route.path, json=route.body)
        actual[(route.method, route.path, "no token")] = anonymous.status
        expected[(route.method, route.path, "no token")] = 401
        await error_body(anonymous, 401, "unauthorized")
        holders = route.holders(admin_user)
        for grant, token in tokens.items():
            key = (route.method, route.path, grant)
            headers = {"Authorization": f"Bearer {token}"}
            response = await api.request(route.method, route.path, json=route.body, headers=headers)
            actual[key] = response.status
            expected[key] = route.passed if grant in holders else 403
            if response.status == 403:
                body = await error_body(response, 403, "forbidden")
                if route.scope != grant and not (route.admin_only and grant == "admin:all"):
                    assert body["required_scope"] == route.scope, key
                    assert body["available_scopes"] == [grant], key
                    assert body["error"] == "Insufficient permissions"
                    assert body["message"] == f"This endpoint requires the '{route.scope}' scope"

    assert actual == expected


async def test_a_missing_scope_is_403_naming_the_required_and_the_available_scopes(
    api: TestClient, make_user: MakeUser
) -> None:
    reader = await make_user("reader", ["read:projects", "read:time_entries"])

    response = await api.post("/api/v1/projects", json={"name": "x"}, headers=reader.headers)

    assert await error_body(response, 403, "forbidden") == {
        "error": "Insufficient permissions",
        "message": "This endpoint requires the 'write:projects' scope",
        "error_code": "forbidden",
        "required_scope": "write:projects",
        "available_scopes": ["read:projects", "read:time_entries"],
    }


async def test_write_does_not_imply_read(api: TestClient, make_user: MakeUser) -> None:
    writer = await make_user("writer", ["write:projects", "write:clients", "write:*"])

    created = await api.post("/api/v1/projects", json={"name": "Mine"}, headers=writer.headers)
    assert created.status == 201

    for path in ("/api/v1/projects", created.headers["Location"], "/api/v1/clients"):
        response = await api.get(path, headers=writer.headers)
        body = await error_body(response, 403, "forbidden")
        assert body["required_scope"].startswith("read:")
