"""An API client on a fresh service, and tokens for users with chosen roles and scopes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient

from timetracker.http.app import create_app
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token, register_user
from timetracker.projections.tracking import wait_for


@dataclass(frozen=True)
class ApiUser:
    """A user and one token of theirs."""

    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakeUser = Callable[..., Awaitable[ApiUser]]


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Awaitable[TestClient]], settings: Settings
) -> TestClient:
    """A test client on the full application, projections running in-process."""
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def make_user(api: TestClient) -> MakeUser:
    """Register a user and issue a token: `await make_user("alice", ["read:*"], admin=False)`."""

    async def make(username: str, scopes: list[str], *, admin: bool = False) -> ApiUser:
        store = api.app[time_tracking_key]
        loop = asyncio.get_running_loop()
        user_id = await loop.run_in_executor(
            None, register_user, store, username, None, None, admin
        )
        issued = await loop.run_in_executor(
            None, issue_token, store, username, scopes, "test", None
        )
        assert await wait_for(api.app[read_pool_key], ["accounts"], issued.position, 5.0)
        return ApiUser(user_id, username, issued.token)

    return make


@pytest.fixture
async def admin(make_user: MakeUser) -> ApiUser:
    """An admin user with an `admin:all` token."""
    return await make_user("root", ["admin:all"], admin=True)
