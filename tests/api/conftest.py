"""An API client on a fresh service, and tokens for users with chosen roles and scopes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient

from timetracker.commands.messages import IssueApiToken, IssuedToken, RevokeApiToken
from timetracker.domain.values import Stamp
from timetracker.http.app import create_app
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token, operator_stamp, register_user
from timetracker.projections.engine.tracking import wait_for


@dataclass(frozen=True)
class ApiUser:
    """A user and one token of theirs."""

    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


EVENTS_CHANNEL = "timetracking_events"  # the store NOTIFYs here on every append

MakeUser = Callable[..., Awaitable[ApiUser]]
MakeToken = Callable[..., Awaitable[IssuedToken]]
CountEvents = Callable[[], Awaitable[int]]


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Awaitable[TestClient]], settings: Settings
) -> AsyncIterator[TestClient]:
    """A test client on the full application, projections running in-process."""
    client = await aiohttp_client(create_app(settings))
    yield client
    await close_promptly(client, settings)


@pytest.fixture
async def api_with(
    aiohttp_client: Callable[..., Awaitable[TestClient]], settings: Settings
) -> AsyncIterator[Callable[..., Awaitable[TestClient]]]:
    """A test client on an app whose settings differ: `await api_with(run_projections=False)`."""
    started: list[tuple[TestClient, Settings]] = []

    async def make(**changes: Any) -> TestClient:
        changed = dataclasses.replace(settings, **changes)
        client = await aiohttp_client(create_app(changed))
        started.append((client, changed))
        return client

    yield make
    for client, changed in started:
        await close_promptly(client, changed)


async def close_promptly(client: TestClient, settings: Settings) -> None:
    """Close the client (and so stop the app) without waiting out the projection listener.

    The listener thread checks for shutdown only between notifications (every 0.5 s when
    the log is idle); notifying its channel while the app stops lets it leave at once.
    """

    async def nudge() -> None:
        async with await psycopg.AsyncConnection.connect(
            settings.conninfo, autocommit=True
        ) as conn:
            while True:
                await conn.execute(f"NOTIFY {EVENTS_CHANNEL}")
                await asyncio.sleep(0.01)

    nudging = asyncio.create_task(nudge())
    try:
        await client.close()
    finally:
        nudging.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await nudging


@pytest.fixture
def make_user(api: TestClient) -> MakeUser:
    """Register a user and issue a token: `await make_user("alice", ["read:*"], admin=False)`."""

    async def make(
        username: str,
        scopes: list[str],
        *,
        admin: bool = False,
        email: str | None = None,
        full_name: str | None = None,
    ) -> ApiUser:
        store = api.app[time_tracking_key]
        loop = asyncio.get_running_loop()
        user_id = await loop.run_in_executor(
            None, register_user, store, username, email, full_name, admin
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


@pytest.fixture
def make_token(api: TestClient) -> MakeToken:
    """Issue another token to an existing user, straight through the store (so that any
    expiry, even one in the past, can be recorded): `await make_token("alice", ["read:*"])`.

    `issued_at` backdates the issuing event; `expires_at` must come after it.
    """

    async def make(
        username: str,
        scopes: list[str],
        *,
        expires_at: datetime | None = None,
        issued_at: datetime | None = None,
    ) -> IssuedToken:
        stamp = operator_stamp()
        if issued_at is not None:
            stamp = Stamp(at=issued_at, user_id=None, request_id="test")
        command = IssueApiToken(username, scopes, "test", expires_at, stamp)
        store = api.app[time_tracking_key]
        issued = await asyncio.get_running_loop().run_in_executor(
            None, store.issue_api_token, command
        )
        assert await wait_for(api.app[read_pool_key], ["accounts"], issued.position, 5.0)
        return issued

    return make


@pytest.fixture
def revoke_token(api: TestClient) -> Callable[[int], Awaitable[None]]:
    """Revoke a token by id through the store and wait until the accounts view shows it."""

    async def revoke(token_id: int) -> None:
        store = api.app[time_tracking_key]
        written = await asyncio.get_running_loop().run_in_executor(
            None, store.revoke_api_token, RevokeApiToken(token_id, operator_stamp())
        )
        assert written.position is not None
        assert await wait_for(api.app[read_pool_key], ["accounts"], written.position, 5.0)

    return revoke


@pytest.fixture
async def count_events(settings: Settings) -> AsyncIterator[CountEvents]:
    """The number of rows in the event store's table, read over a connection of its own."""
    conn = await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True)

    async def count() -> int:
        cursor = await conn.execute("SELECT count(*) FROM timetracking_events")
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    yield count
    await conn.close()
