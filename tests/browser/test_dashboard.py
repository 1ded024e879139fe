"""The dashboard refreshes itself: a new event shows without reloading the page."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Console, ConsoleFactory, assert_accessible

pytestmark = pytest.mark.browser


async def test_the_dashboard_shows_the_store_head_and_follows_it_live(console: Console) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    page = console.page
    head = page.locator("[data-field=head]")
    before = int(await head.inner_text())
    rows = page.locator("tbody[data-field=projections] tr")
    assert await rows.count() >= 8  # every read model, PostgreSQL and Redis
    await page.get_by_role("row").filter(has_text="accounts").get_by_text("running").wait_for()
    await assert_accessible(page)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    await console.make_user("another")  # two more events

    await page.wait_for_function(
        "before => Number(document.querySelector('[data-field=head]').textContent) > before",
        arg=before,
        timeout=10_000,
    )
    assert navigations == []  # no reload: the script fetched /admin/status.json
    accounts = page.get_by_role("row").filter(has_text="accounts")
    assert int(await accounts.get_by_role("cell").nth(1).inner_text()) > before


async def test_an_open_dashboard_does_not_keep_an_unattended_session_alive(
    console_with: ConsoleFactory,
) -> None:
    console = await console_with(console_session_idle_seconds=3)
    await console.make_user("boss")
    await console.sign_in("boss")  # the dashboard, refreshing itself every 2 s
    # Its refreshes are not the person's activity: the session ends, and the page goes
    # to the sign-in form by itself.
    await console.page.wait_for_url("**/admin/login**", timeout=15_000)
