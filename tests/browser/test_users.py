"""The users page: create, set role, set password, deactivate (tokens stop at once)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.browser.conftest import PASSWORD, Console, assert_accessible
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.ops.accounts import issue_token
from timetracker.projections.engine.tracking import wait_for

pytestmark = pytest.mark.browser
NEW_PASSWORD = "another long passphrase"


async def _token_of(console: Console, username: str) -> str:
    store = console.server.app[time_tracking_key]
    issued = await asyncio.get_running_loop().run_in_executor(
        None, issue_token, store, username, ["read:*"], "test", None
    )
    assert await wait_for(console.server.app[read_pool_key], ["accounts"], issued.position, 5)
    return issued.token


async def _status(console: Console, token: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            console.url("/api/v1/users/me"), headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        return response.status


async def test_deactivating_a_user_stops_their_tokens_at_once(console: Console) -> None:
    await console.make_user("boss")
    await console.make_user("worker", admin=False, password=None)
    token = await _token_of(console, "worker")
    assert await _status(console, token) == 200  # and now in the token cache too
    await console.sign_in("boss")
    page = console.page
    await page.get_by_role("link", name="Users").click()
    await page.get_by_role("heading", name="Users", level=1).wait_for()
    await assert_accessible(page)
    await page.get_by_role("button", name="Deactivate worker").click()
    await assert_accessible(page)
    await page.get_by_role("dialog").get_by_role("button", name="Deactivate user").click()
    await page.get_by_text("was deactivated").wait_for()
    row = page.get_by_role("row").filter(has_text="worker")
    await row.get_by_text("deactivated").wait_for()
    assert await _status(console, token) == 401


async def test_a_deactivated_admin_is_signed_out_of_the_console(console: Console) -> None:
    await console.make_user("boss")
    await console.make_user("deputy")
    theirs = await console.other_browser()
    await console.sign_in("deputy", page=theirs)
    assert theirs.url == console.url("/admin/")
    await console.sign_in("boss")
    await console.page.goto(console.url("/admin/users"))
    await console.page.get_by_role("button", name="Deactivate deputy").click()
    await console.page.get_by_role("button", name="Deactivate user").click()
    await console.page.get_by_text("was deactivated").wait_for()
    await theirs.goto(console.url("/admin/users"))
    assert theirs.url.startswith(console.url("/admin/login"))
    await console.sign_in("deputy", page=theirs)
    assert await theirs.get_by_role("alert").inner_text() == "Wrong username or password."


async def test_an_admin_creates_a_user_gives_a_password_and_a_role(console: Console) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    page = console.page
    await page.goto(console.url("/admin/users"))
    await page.get_by_role("button", name="Create user").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Username").fill("carol")
    await dialog.get_by_role("button", name="Create the user").click()
    await page.get_by_text("User carol was created.").wait_for()

    await page.get_by_role("button", name="Set password of carol").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await dialog.get_by_label("New password again").fill(NEW_PASSWORD)
    await page.get_by_role("dialog").get_by_role("button", name="Set password").click()
    await page.get_by_text("was set").wait_for()

    # carol is a normal user: the right password gets the 403 page.
    theirs = await console.other_browser()
    await console.sign_in("carol", NEW_PASSWORD, page=theirs)
    await theirs.get_by_role("heading", name="Forbidden").wait_for()

    await page.get_by_role("button", name="Set role of carol").click()
    await page.get_by_role("dialog").get_by_label("Role").select_option("admin")
    await page.get_by_role("button", name="Save role").click()
    await page.get_by_text("is now admin").wait_for()
    await console.sign_in("carol", NEW_PASSWORD, page=theirs)
    assert theirs.url == console.url("/admin/")


async def test_a_too_short_password_is_refused_with_a_message(console: Console) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    page = console.page
    await page.goto(console.url("/admin/users"))
    response = await page.request.post(
        console.url("/admin/users/1/password"),
        form={
            "csrf_token": await page.locator("input[name=csrf_token]").first.get_attribute("value")
            or "",
            "password": "short",
            "password_confirm": "short",
        },
    )
    assert response.status == 400
    assert "at least 12 characters" in await response.text()
    await console.page.goto(console.url("/admin/login"))  # still signed in: to the dashboard
    assert console.page.url == console.url("/admin/")
    await console.page.get_by_role("button", name="Sign out").click()
    await console.sign_in("boss", PASSWORD)
    assert console.page.url == console.url("/admin/")


async def test_a_user_with_a_malformed_email_is_refused_by_the_server(console: Console) -> None:
    """The form's email field checks in the browser; a direct POST is checked again."""
    await console.make_user("boss")
    await console.sign_in("boss")
    await console.page.goto(console.url("/admin/users"))
    token = await console.page.locator("input[name=csrf_token]").first.get_attribute("value")
    form = {"username": "carol", "email": "not-an-email", "role": "user", "csrf_token": token or ""}
    refused = await console.page.request.post(console.url("/admin/users"), form=form)
    assert refused.status == 400
    assert "Not a valid email address." in await refused.text()
    await console.page.goto(console.url("/admin/users"))
    assert await console.page.get_by_role("cell", name="carol").count() == 0


async def test_a_new_user_with_a_refused_password_is_not_created(console: Console) -> None:
    """The password was checked after the user was written: a 400, yet the user stood
    (and the same name then was taken)."""
    await console.make_user("boss")
    await console.sign_in("boss")
    await console.page.goto(console.url("/admin/users"))
    token = await console.page.locator("input[name=csrf_token]").first.get_attribute("value")
    form = {"username": "dave", "role": "admin", "password": "short", "csrf_token": token or ""}
    form["password_confirm"] = "short"
    refused = await console.page.request.post(console.url("/admin/users"), form=form)
    assert refused.status == 400
    assert "at least 12 characters" in await refused.text()
    await console.page.goto(console.url("/admin/users"))
    assert await console.page.get_by_role("cell", name="dave").count() == 0
