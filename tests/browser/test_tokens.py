"""The API tokens page: create a token (shown once), revoke it (the API refuses it at once)."""

from __future__ import annotations

import asyncio
import os
import re

import aiohttp
import pytest

from tests.browser.conftest import Console, ConsoleFactory, assert_accessible

pytestmark = pytest.mark.browser
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS")  # a folder: keep screenshots there


async def _me(console: Console, token: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            console.url("/api/v1/users/me"), headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        return response.status


async def test_a_token_is_created_shown_once_and_revoked(console: Console) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    page = console.page
    await page.get_by_role("link", name="API tokens").click()
    await page.get_by_role("heading", name="API tokens", level=1).wait_for()
    await assert_accessible(page)

    await page.get_by_role("button", name="Create token").click()
    dialog = page.get_by_role("dialog")
    await dialog.wait_for()
    await assert_accessible(page)
    await page.get_by_label("Name").fill("deploy bot")
    if SCREENSHOTS:
        await page.screenshot(path=f"{SCREENSHOTS}/create-token-dialog.png")
    # The submit button's name starts with "Create" and is the only such button now
    # (the page behind the modal is inert).
    await page.get_by_role("button", name=re.compile(r"^Create")).click()
    await page.get_by_role("heading", name=re.compile(r"^Token tt_")).wait_for()
    token = (await page.locator("#new-token-value").inner_text()).strip()
    assert re.fullmatch(r"tt_[A-Za-z0-9_-]{32}", token)
    await page.get_by_role("button", name="Copy token").click()
    await page.get_by_text("Copied to the clipboard.").wait_for()
    if SCREENSHOTS:
        await page.emulate_media(color_scheme="dark")
        await page.screenshot(path=f"{SCREENSHOTS}/new-token-dark.png")
        await page.emulate_media(color_scheme="light")
    await assert_accessible(page)
    assert await _me(console, token) == 200

    # Shown once: a fresh look at the page lists it by prefix only.
    await page.goto(console.url("/admin/api-tokens"))
    assert token not in await page.content()
    row = page.get_by_role("row").filter(has_text="deploy bot")
    await row.get_by_role("button", name="Revoke").click()
    confirm = page.get_by_role("dialog")
    await confirm.get_by_text("stops working at once").wait_for()
    await confirm.get_by_role("button", name="Revoke token").click()
    await page.get_by_text("was revoked").wait_for()
    assert "no" not in await row.get_by_role("cell").nth(6).inner_text()
    assert await _me(console, token) == 401


async def test_cancelling_the_revoke_keeps_the_token(console: Console) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    page = console.page
    await page.goto(console.url("/admin/api-tokens"))
    await page.get_by_role("button", name="Create token").click()
    await page.get_by_label("Name").fill("keep me")
    await page.get_by_role("button", name=re.compile(r"^Create")).click()
    token = (await page.locator("#new-token-value").inner_text()).strip()
    row = page.get_by_role("row").filter(has_text="keep me")
    await row.get_by_role("button", name="Revoke").click()
    await page.keyboard.press("Escape")  # Escape closes the modal
    await page.get_by_role("dialog").wait_for(state="hidden")
    assert await _me(console, token) == 200


async def test_a_token_without_scopes_is_refused_with_a_message(console: Console) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    page = console.page
    await page.goto(console.url("/admin/api-tokens"))
    await page.get_by_role("button", name="Create token").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Name").fill("no scopes")
    await dialog.get_by_role("checkbox", name="read:*").uncheck()
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await dialog.get_by_role("button", name=re.compile(r"^Create")).click()
    assert (await answer.value).status == 400
    alert = page.get_by_role("alert")
    assert await alert.inner_text() == "At least one scope is required."
    await assert_accessible(page)
    assert await page.locator("#new-token-value").count() == 0


async def test_signing_out_of_an_expired_session_leads_to_the_sign_in_page(
    console_with: ConsoleFactory,
) -> None:
    console = await console_with(console_session_idle_seconds=1)
    await console.make_user("boss")
    await console.sign_in("boss")
    await console.page.goto(console.url("/admin/users"))  # a page that does not poll
    await asyncio.sleep(2)
    await console.page.get_by_role("button", name="Sign out").click()
    await console.page.wait_for_url(console.url("/admin/login?signed_out=1"))
