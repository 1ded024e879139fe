"""CSRF tokens, sign-in limits and session expiry, seen from a real browser."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from tests.browser.conftest import PASSWORD, Console, ConsoleFactory, assert_accessible
from timetracker.commands import maintenance
from timetracker.http.keys import settings_key

pytestmark = pytest.mark.browser


async def _csrf_token(console: Console) -> str:
    return await console.page.locator("input[name=csrf_token]").first.get_attribute("value") or ""


async def test_a_state_change_without_the_csrf_token_is_refused(console: Console) -> None:
    await console.make_user("boss")
    await console.make_user("alice", admin=False, password=None)
    await console.sign_in("boss")
    await console.page.goto(console.url("/admin/users"))
    good = await _csrf_token(console)
    request = console.page.request  # the browser's cookies, so the session is there
    form = {"username": "mallory", "role": "admin"}
    missing = await request.post(console.url("/admin/users"), form=form, max_redirects=0)
    assert missing.status == 403
    assert "did not come from this console" in await missing.text()
    wrong = await request.post(
        console.url("/admin/users"), form={**form, "csrf_token": good[::-1]}, max_redirects=0
    )
    assert wrong.status == 403
    header = await request.post(
        console.url("/admin/users/2/deactivate"), headers={"X-CSRF-Token": "nope"}
    )
    assert header.status == 403
    logout = await request.post(console.url("/admin/logout"), max_redirects=0)
    assert logout.status == 403
    # Nothing happened: no user mallory, alice still active, the session still works.
    await console.page.goto(console.url("/admin/users"))
    assert console.page.url == console.url("/admin/users")
    assert await console.page.get_by_role("cell", name="mallory").count() == 0
    assert await console.page.get_by_text("deactivated").count() == 0
    # With the right token the same request goes through.
    done = await request.post(
        console.url("/admin/users"), form={**form, "csrf_token": good}, max_redirects=0
    )
    assert done.status == 303


async def test_a_sign_in_without_the_form_token_is_refused(console: Console) -> None:
    await console.make_user("boss")
    await console.page.goto(console.url("/admin/login"))
    response = await console.page.request.post(
        console.url("/admin/login"),
        form={"username": "boss", "password": PASSWORD},
        max_redirects=0,
    )
    assert response.status == 403
    await console.page.goto(console.url("/admin/"))
    assert console.page.url.startswith(console.url("/admin/login"))


async def test_too_many_sign_in_attempts_for_a_username_get_the_429_page(
    console_with: ConsoleFactory,
) -> None:
    console = await console_with(console_signin_per_username=3)
    await console.make_user("boss")
    for _ in range(3):
        await console.sign_in("boss", "wrong password, again")
        assert await console.page.get_by_role("alert").inner_text() == (
            "Wrong username or password."
        )
    page = console.page
    await page.goto(console.url("/admin/login"))
    await page.get_by_label("Username").fill("BOSS")  # the limit ignores case
    await page.get_by_label("Password").fill(PASSWORD)  # even the right password now
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Sign in").click()
    response = await answer.value
    assert response.status == 429
    assert int(response.headers["retry-after"]) > 0
    await page.get_by_role("heading", name="Too many sign-in attempts").wait_for()
    await assert_accessible(page)
    await page.goto(console.url("/admin/"))
    assert page.url.startswith(console.url("/admin/login"))


async def test_too_many_sign_in_attempts_from_one_address_get_the_429_page(
    console_with: ConsoleFactory,
) -> None:
    console = await console_with(console_signin_per_address=3)
    await console.make_user("boss")
    for name in ("ann", "bob", "cy"):
        await console.sign_in(name, "guessing")
    async with console.page.expect_response(lambda r: r.request.method == "POST") as answer:
        await console.sign_in("boss")
    assert (await answer.value).status == 429


async def test_an_idle_session_expires(console_with: ConsoleFactory) -> None:
    console = await console_with(console_session_idle_seconds=2)
    await console.make_user("boss")
    await console.sign_in("boss")
    await console.page.goto(console.url("/admin/users"))
    assert console.page.url == console.url("/admin/users")
    await asyncio.sleep(3)
    await console.page.goto(console.url("/admin/users"))
    assert console.page.url == console.url("/admin/login?next=/admin/users")
    # Signing in again leads back to the page asked for.
    await console.page.get_by_label("Username").fill("boss")
    await console.page.get_by_label("Password").fill(PASSWORD)
    await console.page.get_by_role("button", name="Sign in").click()
    await console.page.wait_for_url(console.url("/admin/users"))


async def test_a_session_ends_at_its_absolute_expiry_however_busy(
    console_with: ConsoleFactory,
) -> None:
    console = await console_with(console_session_idle_seconds=60, console_session_max_seconds=3)
    await console.make_user("boss")
    await console.sign_in("boss")
    for _ in range(2):
        await asyncio.sleep(1)
        await console.page.goto(console.url("/admin/users"))
        assert console.page.url == console.url("/admin/users")
    await asyncio.sleep(1.5)
    await console.page.goto(console.url("/admin/users"))
    assert console.page.url.startswith(console.url("/admin/login"))


async def test_a_signed_in_admin_keeps_the_console_while_a_restore_rebuilds_accounts(
    console: Console,
) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    conninfo = console.server.app[settings_key].conninfo
    with psycopg.connect(conninfo, autocommit=True) as conn:
        maintenance.enter(conn, "restore")
        # What a restore's rebuild may show for a while: not this user.
        conn.execute("DELETE FROM users")
    await asyncio.sleep(1.1)  # each process reads the flag at most once a second
    await console.page.goto(console.url("/admin/"))
    assert console.page.url == console.url("/admin/")
    await console.page.get_by_text("on: restore").wait_for()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        maintenance.leave(conn)
    await asyncio.sleep(1.1)
    await console.page.goto(console.url("/admin/"))  # the user is gone from the restored store
    assert console.page.url.startswith(console.url("/admin/login"))
