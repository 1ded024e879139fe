"""/api/v1/users/me for any user with read:users; /api/v1/users for admins only."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.api.conftest import MakeUser
from tests.api.helpers import RFC3339_UTC, error_body


async def test_me_describes_the_tokens_own_user(api: TestClient, make_user: MakeUser) -> None:
    await make_user("root", ["admin:all"], admin=True)
    alice = await make_user(
        "alice", ["read:users"], email="alice@example.com", full_name="Alice Liddell"
    )

    response = await api.get("/api/v1/users/me", headers=alice.headers)

    assert response.status == 200
    body = await response.json()
    assert set(body) == {"user"}
    user = body["user"]
    assert RFC3339_UTC.match(user["created_at"])
    assert user == {
        "id": alice.id,
        "username": "alice",
        "email": "alice@example.com",
        "full_name": "Alice Liddell",
        "role": "user",
        "is_active": True,
        "created_at": user["created_at"],
        "timezone": "UTC",
    }
    assert alice.id == 2


async def test_me_shows_the_admin_role_of_an_admin(api: TestClient, make_user: MakeUser) -> None:
    root = await make_user("root", ["read:*"], admin=True)

    response = await api.get("/api/v1/users/me", headers=root.headers)

    assert (await response.json())["user"]["role"] == "admin"


async def test_an_admin_with_admin_all_lists_every_user_paged(
    api: TestClient, make_user: MakeUser
) -> None:
    root = await make_user("root", ["admin:all"], admin=True)
    for name in ("bob", "carol", "dave"):
        await make_user(name, ["read:users"])

    everyone = await api.get("/api/v1/users", headers=root.headers)
    second = await api.get("/api/v1/users?page=2&per_page=3", headers=root.headers)

    assert everyone.status == 200
    body = await everyone.json()
    assert set(body) == {"users", "pagination"}
    assert [(u["id"], u["username"], u["role"]) for u in body["users"]] == [
        (1, "root", "admin"),
        (2, "bob", "user"),
        (3, "carol", "user"),
        (4, "dave", "user"),
    ]
    assert body["pagination"] == {
        "page": 1,
        "per_page": 50,
        "total": 4,
        "pages": 1,
        "has_next": False,
        "has_prev": False,
        "next_page": None,
        "prev_page": None,
    }
    page_two = await second.json()
    assert [u["username"] for u in page_two["users"]] == ["dave"]
    assert page_two["pagination"]["prev_page"] == 1


async def test_a_normal_user_with_admin_all_may_not_list_users(
    api: TestClient, make_user: MakeUser
) -> None:
    mallory = await make_user("mallory", ["admin:all"])

    response = await api.get("/api/v1/users", headers=mallory.headers)

    body = await error_body(response, 403, "forbidden")
    assert "users" not in body


async def test_an_admin_user_without_admin_all_may_not_list_users(
    api: TestClient, make_user: MakeUser
) -> None:
    for scopes in (["read:users"], ["read:*", "write:*"]):
        root = await make_user(f"root-{len(scopes)}", scopes, admin=True)

        response = await api.get("/api/v1/users", headers=root.headers)

        body = await error_body(response, 403, "forbidden")
        assert body["required_scope"] == "admin:all"
        assert body["available_scopes"] == sorted(scopes)
