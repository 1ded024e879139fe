"""Authentication: the three ways to send a token, and one answer for every bad token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeToken, MakeUser
from tests.api.helpers import error_body

AUTHENTICATION_REQUIRED = {
    "error": "Authentication required",
    "message": "Send an API token as 'Authorization: Bearer <token>' or 'X-API-Key: <token>'.",
    "error_code": "unauthorized",
}
INVALID_TOKEN = {
    "error": "Invalid token",
    "message": "The provided API token is invalid or expired",
    "error_code": "unauthorized",
}
UNKNOWN_TOKEN = "tt_" + "A" * 32


async def _me(api: TestClient, headers: dict[str, str]) -> str:
    response = await api.get("/api/v1/users/me", headers=headers)
    assert response.status == 200, await response.text()
    username: str = (await response.json())["user"]["username"]
    return username


async def test_a_token_is_accepted_in_each_documented_header(
    api: TestClient, make_user: MakeUser
) -> None:
    alice = await make_user("alice", ["read:users"])

    for name, template in [
        ("Authorization", "Bearer {token}"),
        ("Authorization", "Token {token}"),
        ("Authorization", "bearer {token}"),
        ("X-API-Key", "{token}"),
    ]:
        assert await _me(api, {name: template.format(token=alice.token)}) == "alice", template


async def test_authorization_wins_over_x_api_key_when_both_are_sent(
    api: TestClient, make_user: MakeUser
) -> None:
    alice = await make_user("alice", ["read:users"])
    bob = await make_user("bob", ["read:users"])

    both = {"Authorization": f"Bearer {alice.token}", "X-API-Key": bob.token}
    assert await _me(api, both) == "alice"

    bad_authorization = {"Authorization": f"Bearer {UNKNOWN_TOKEN}", "X-API-Key": bob.token}
    response = await api.get("/api/v1/users/me", headers=bad_authorization)
    assert await error_body(response, 401, "unauthorized") == INVALID_TOKEN


PROTECTED = [
    ("GET", "/api/v1/projects"),
    ("POST", "/api/v1/projects"),
    ("PATCH", "/api/v1/projects/1"),
    ("GET", "/api/v1/clients/1"),
    ("DELETE", "/api/v1/clients/1"),
    ("GET", "/api/v1/users/me"),
    ("GET", "/api/v1/users"),
]
BAD_TOKENS: list[dict[str, str]] = [
    {"Authorization": f"Bearer {UNKNOWN_TOKEN}"},
    {"Authorization": f"Token {UNKNOWN_TOKEN}"},
    {"X-API-Key": UNKNOWN_TOKEN},
    {"Authorization": "Bearer abc"},
    {"Authorization": "Bearer tt_short"},
    {"Authorization": f"Bearer {UNKNOWN_TOKEN}x"},
    {"Authorization": f"Bearer xx_{'A' * 32}"},
    {"Authorization": f"Bearer tt_{'A' * 31}!"},
    {"Authorization": "Bearer"},
    {"Authorization": ""},
    {"Authorization": f"Basic {UNKNOWN_TOKEN}"},
    {"Authorization": f"Bearer {UNKNOWN_TOKEN} extra"},
    {"Authorization": UNKNOWN_TOKEN},
    {"X-API-Key": ""},
    {"X-API-Key": "tt_" + "%" * 32},
]


async def test_no_token_is_401_authentication_required_before_the_body_is_looked_at(
    api: TestClient,
) -> None:
    for method, path in PROTECTED:
        response = await api.request(method, path, data=b"{not json")

        assert await error_body(response, 401, "unauthorized") == AUTHENTICATION_REQUIRED
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), path


async def test_a_bad_unknown_or_malformed_token_is_401_invalid_token(
    api: TestClient, admin: ApiUser
) -> None:
    for headers in BAD_TOKENS:
        for method, path in PROTECTED:
            response = await api.request(method, path, headers=headers, json={"name": "x"})

            assert await error_body(response, 401, "unauthorized") == INVALID_TOKEN, headers


async def test_a_token_is_refused_from_the_request_after_it_is_revoked(
    api: TestClient,
    make_user: MakeUser,
    make_token: MakeToken,
    revoke_token: Callable[[int], Awaitable[None]],
) -> None:
    await make_user("alice", ["read:users"])
    issued = await make_token("alice", ["read:users"])
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert await _me(api, headers) == "alice"

    await revoke_token(issued.id)

    for sent in (headers, {"X-API-Key": issued.token}):
        response = await api.get("/api/v1/users/me", headers=sent)
        assert await error_body(response, 401, "unauthorized") == INVALID_TOKEN


async def test_an_expired_token_is_401_invalid_token_and_an_unexpired_one_works(
    api: TestClient, make_user: MakeUser, make_token: MakeToken
) -> None:
    await make_user("alice", ["read:users"])
    now = datetime.now(UTC)
    expired = await make_token(
        "alice",
        ["read:users"],
        issued_at=now - timedelta(days=2),
        expires_at=now - timedelta(seconds=1),
    )
    valid = await make_token("alice", ["read:users"], expires_at=now + timedelta(hours=1))

    response = await api.get("/api/v1/users/me", headers={"X-API-Key": expired.token})

    assert await error_body(response, 401, "unauthorized") == INVALID_TOKEN
    assert await _me(api, {"X-API-Key": valid.token}) == "alice"


async def test_revoking_one_token_leaves_the_users_other_tokens_working(
    api: TestClient,
    make_user: MakeUser,
    make_token: MakeToken,
    revoke_token: Callable[[int], Awaitable[None]],
) -> None:
    alice = await make_user("alice", ["read:users"])
    spare = await make_token("alice", ["read:users"])

    await revoke_token(spare.id)

    assert await _me(api, alice.headers) == "alice"
