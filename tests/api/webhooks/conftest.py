"""A real aiohttp server that receives webhooks, and the API set up to deliver to it."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.api.conftest import ApiUser, close_promptly
from timetracker.http.app import create_app
from timetracker.http.keys import read_pool_key, time_tracking_key, webhook_guard_key
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token, register_user
from timetracker.projections.engine.tracking import wait_for


@dataclass
class Delivery:
    """One request the receiver accepted."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    def verified(self, secret: str) -> Any:
        """The body, after `standardwebhooks` checked its signature."""
        return StandardWebhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """Accepts deliveries with 204, or fails the next `fail_next` with 500."""

    port: int = 0
    fail_next: int = 0
    fail_status: int = 500
    fail_body: str = "receiver failing on purpose"
    redirected: int = 0  # requests to where a failing answer's Location points
    failures: int = 0
    failed_ids: list[str] = field(default_factory=list)  # webhook-id of each failed attempt
    accepted: list[Delivery] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.fail_next > 0:
            self.fail_next -= 1
            self.failures += 1
            self.failed_ids.append(request.headers.get("webhook-id", ""))
            headers = {"Location": "/elsewhere"} if 300 <= self.fail_status < 400 else {}
            return web.Response(status=self.fail_status, text=self.fail_body, headers=headers)
        self.accepted.append(Delivery(dict(request.headers), body))
        self.arrived.set()
        return web.Response(status=204)

    async def elsewhere(self, request: web.Request) -> web.Response:
        self.redirected += 1
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        app.router.add_route("*", "/elsewhere", self.elsewhere)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            server = site._server
            assert isinstance(server, asyncio.base_events.Server)
            sock: socket.socket = server.sockets[0]
            self.port = int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[Delivery]:
        """The accepted deliveries once there are `count` of them."""
        async with asyncio.timeout(timeout):
            while len(self.accepted) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.accepted


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A running receiver on a free port of 127.0.0.1."""
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


# Tests reach a receiver on 127.0.0.1 over plain HTTP, and retry after milliseconds.
HOOK_SETTINGS = {
    "webhooks_allow_http": True,
    "webhooks_allow_private_networks": True,
    "webhooks_retry_scale": 0.002,
}


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, **HOOK_SETTINGS)  # type: ignore[arg-type]


StartApi = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def start_api(
    aiohttp_client: Callable[..., Awaitable[TestClient]], hook_settings: Settings
) -> AsyncIterator[StartApi]:
    """Start an API (with its projections and dispatcher): `await start_api(guard=...)`."""
    started: list[TestClient] = []

    async def start(**changes: Any) -> TestClient:
        guard = changes.pop("guard", None)
        app = create_app(dataclasses.replace(hook_settings, **changes))
        if guard is not None:
            app[webhook_guard_key] = guard
        client = await aiohttp_client(app)
        started.append(client)
        return client

    yield start
    for client in started:
        await close_promptly(client, hook_settings)  # a second close does nothing


async def make_user(
    api: TestClient, username: str, scopes: list[str], *, admin: bool = False
) -> ApiUser:
    """Register a user with one token, through the store of `api`."""
    store = api.app[time_tracking_key]
    loop = asyncio.get_running_loop()
    user_id = await loop.run_in_executor(None, register_user, store, username, None, None, admin)
    issued = await loop.run_in_executor(None, issue_token, store, username, scopes, "t", None)
    assert await wait_for(api.app[read_pool_key], ["accounts"], issued.position, 5.0)
    return ApiUser(user_id, username, issued.token)


async def subscribe(
    api: TestClient, user: ApiUser, url: str, events: list[str]
) -> tuple[dict[str, Any], str]:
    """Create a webhook; the webhook and its secret."""
    response = await api.post(
        "/api/v1/webhooks", json={"url": url, "events": events}, headers=user.headers
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    return body["webhook"], body["secret"]


async def deliveries_of(
    api: TestClient,
    user: ApiUser,
    webhook_id: int,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 15.0,
) -> list[dict[str, Any]]:
    """The webhook's deliveries (oldest first) once `until` holds for them."""
    async with asyncio.timeout(timeout):
        while True:
            response = await api.get(
                f"/api/v1/webhooks/{webhook_id}/deliveries?per_page=100", headers=user.headers
            )
            assert response.status == 200, await response.text()
            shown = list(reversed((await response.json())["deliveries"]))
            if until(shown):
                return shown
            await asyncio.sleep(0.02)


def all_delivered(count: int) -> Callable[[list[dict[str, Any]]], bool]:
    """`until` for `deliveries_of`: `count` deliveries, every one delivered."""
    return lambda shown: len(shown) == count and all(d["state"] == "delivered" for d in shown)
