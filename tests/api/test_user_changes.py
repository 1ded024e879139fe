"""User password, role and deactivation as events, seen through the API."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser
from timetracker.commands.messages import ChangeRole, DeactivateUser, SetPassword, Written
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.ops.accounts import operator_stamp
from timetracker.projections.engine.tracking import wait_for

PASSWORD = "correct horse battery staple"


async def _write(api: TestClient, command: Any, message: Any) -> Written:
    written: Written = await asyncio.get_running_loop().run_in_executor(None, command, message)
    assert written.position is not None
    assert await wait_for(api.app[read_pool_key], ["accounts"], written.position, 5.0)
    return written


async def test_a_deactivated_user_s_cached_token_is_refused_at_once(
    api: TestClient, make_user: MakeUser
) -> None:
    alice: ApiUser = await make_user("alice", ["read:*"])
    for _ in range(2):  # the second answer comes from the token cache
        assert (await api.get("/api/v1/users/me", headers=alice.headers)).status == 200
    store = api.app[time_tracking_key]
    await _write(api, store.deactivate_user, DeactivateUser(alice.id, operator_stamp()))
    refused = await api.get("/api/v1/users/me", headers=alice.headers)
    assert refused.status == 401
    assert (await refused.json())["message"] == "The provided API token is invalid or expired"


async def test_an_admin_made_a_normal_user_loses_admin_endpoints_at_once(
    api: TestClient, make_user: MakeUser
) -> None:
    boss = await make_user("boss", ["admin:all"], admin=True)
    assert (await api.get("/api/v1/users", headers=boss.headers)).status == 200
    store = api.app[time_tracking_key]
    await _write(api, store.change_role, ChangeRole(boss.id, "user", operator_stamp()))
    assert (await api.get("/api/v1/users", headers=boss.headers)).status == 403
    me = await (await api.get("/api/v1/users/me", headers=boss.headers)).json()
    assert me["user"]["role"] == "user"


async def test_the_change_feed_never_shows_a_password_hash(
    api: TestClient, make_user: MakeUser
) -> None:
    auditor = await make_user("auditor", ["admin:all"], admin=True)
    store = api.app[time_tracking_key]
    await _write(api, store.set_password, SetPassword(auditor.id, PASSWORD, operator_stamp()))
    response = await api.get("/api/v1/events?after=0&resource=user", headers=auditor.headers)
    assert response.status == 200
    text = await response.text()
    body = await response.json()
    assert "UserPasswordSet" in [e["event"] for e in body["events"]]
    assert "argon2" not in text
    assert "password_hash" not in text
    assert PASSWORD not in text
