"""Signing in and out of the console in a real browser."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, Console, ConsoleFactory, assert_accessible

pytestmark = pytest.mark.browser


async def test_an_admin_signs_in_sees_the_dashboard_and_signs_out(console: Console) -> None:
    await console.make_user("boss")
    page = console.page
    await page.goto(console.url("/admin/"))
    assert page.url == console.url("/admin/login")  # not signed in: to the form
    await assert_accessible(page)

    await console.sign_in("boss")
    assert page.url == console.url("/admin/")
    await page.get_by_role("heading", name="Dashboard", level=1).wait_for()
    await assert_accessible(page)

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(console.url("/admin/login?signed_out=1"))
    await page.get_by_text("You have signed out.").wait_for()
    await page.goto(console.url("/admin/"))
    assert page.url.startswith(console.url("/admin/login"))


async def test_signing_out_ends_the_session_on_the_server(console: Console) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    [cookie] = [c for c in await console.context.cookies() if c["name"] == "tt_console"]
    await console.page.get_by_role("button", name="Sign out").click()
    await console.page.wait_for_url("**/admin/login?signed_out=1")
    # The old cookie, sent again by hand, signs no one in.
    await console.context.add_cookies([cookie])
    response = await console.page.goto(console.url("/admin/users"))
    assert response is not None
    assert console.page.url.startswith(console.url("/admin/login"))


async def test_a_wrong_password_and_an_unknown_user_get_one_message(console: Console) -> None:
    await console.make_user("boss")
    page = console.page
    await console.sign_in("boss", "not the password at all")
    wrong_password = await page.get_by_role("alert").inner_text()
    assert page.url == console.url("/admin/login")
    await assert_accessible(page)
    await console.sign_in("nobody", PASSWORD)
    unknown_user = await page.get_by_role("alert").inner_text()
    assert wrong_password == unknown_user == "Wrong username or password."
    await page.goto(console.url("/admin/"))
    assert page.url.startswith(console.url("/admin/login"))


async def test_the_page_asked_for_is_kept_through_a_wrong_password(console: Console) -> None:
    await console.make_user("boss")
    page = console.page
    await page.goto(console.url("/admin/history"))
    assert page.url == console.url("/admin/login?next=/admin/history")
    for password in ("not the password at all", PASSWORD):
        await page.get_by_label("Username").fill("boss")
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_load_state()
    assert page.url == console.url("/admin/history")


async def test_a_user_who_is_not_an_admin_is_refused_with_a_403_page(console: Console) -> None:
    await console.make_user("worker", admin=False)
    page = console.page
    await page.goto(console.url("/admin/login"))
    await page.get_by_label("Username").fill("worker")
    await page.get_by_label("Password").fill(PASSWORD)
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Sign in").click()
    assert (await answer.value).status == 403
    await page.get_by_role("heading", name="Forbidden").wait_for()
    await page.get_by_text("The console is for admin users only.").wait_for()
    await assert_accessible(page)
    await page.goto(console.url("/admin/"))
    assert page.url.startswith(console.url("/admin/login"))


async def test_the_session_cookie_is_http_only_strict_and_new_at_sign_in(
    console: Console,
) -> None:
    await console.make_user("boss")
    await console.page.goto(console.url("/admin/login"))
    [before] = [c for c in await console.context.cookies() if c["name"] == "tt_console"]
    await console.sign_in("boss")
    [after] = [c for c in await console.context.cookies() if c["name"] == "tt_console"]
    assert after["httpOnly"] is True
    assert after["sameSite"] == "Strict"
    assert after["secure"] is False  # plain http here; Secure whenever served over https
    assert after["path"] == "/admin"
    assert after["value"] != before["value"]  # a new session id at sign-in


async def test_every_page_sends_a_csp_without_inline_script(console: Console) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    pages = ("/admin/", "/admin/api-tokens", "/admin/users", "/admin/backups", "/admin/restore")
    for path in ("/admin/login", *pages, "/admin/projections", "/admin/history"):
        response = await console.page.goto(console.url(path))
        assert response is not None
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        inline = await console.page.evaluate(
            """() => [...document.scripts].filter(s => !s.src).length
                   + document.querySelectorAll('[onclick],[onload],[onsubmit]').length"""
        )
        assert inline == 0


async def test_the_cookie_is_secure_behind_a_tls_proxy_when_configured(
    console_with: ConsoleFactory,
) -> None:
    console = await console_with(console_secure_cookie=True)
    await console.make_user("boss")
    await console.sign_in("boss")
    [cookie] = [c for c in await console.context.cookies() if c["name"] == "tt_console"]
    assert cookie["secure"] is True and cookie["httpOnly"] is True


async def test_the_api_does_not_take_the_consoles_session_cookie(console: Console) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    [cookie] = [c for c in await console.context.cookies() if c["name"] == "tt_console"]
    # The browser keeps the cookie to /admin; sent to the API by hand, it signs no one in.
    response = await console.page.request.get(
        console.url("/api/v1/projects"), headers={"Cookie": f"tt_console={cookie['value']}"}
    )
    assert response.status == 401
    assert (await response.json())["error_code"] == "unauthorized"
