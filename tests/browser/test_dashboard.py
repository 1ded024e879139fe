"""The dashboard refreshes itself: a new event shows without reloading the page."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from tests.browser.conftest import Console, ConsoleFactory, assert_accessible
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.ops.accounts import issue_token
from timetracker.projections.engine.tracking import wait_for

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


def _closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_dashboard_shows_the_webhook_dispatcher_and_its_failing_subscriptions(
    console_with: ConsoleFactory,
) -> None:
    console = await console_with(
        webhooks_allow_http=True,
        webhooks_allow_private_networks=True,
        webhooks_retry_scale=0.002,
    )
    await console.make_user("boss")
    await console.sign_in("boss")
    page = console.page
    state = page.locator("[data-field=webhooks-state]")
    await page.get_by_text("No webhook is failing.").wait_for()
    assert await state.inner_text() in {"running", "stopped"}

    store = console.server.app[time_tracking_key]
    issued = await asyncio.get_running_loop().run_in_executor(
        None, issue_token, store, "boss", ["admin:all"], "test", None
    )
    assert await wait_for(console.server.app[read_pool_key], ["accounts"], issued.position, 5.0)
    headers = {"Authorization": f"Bearer {issued.token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        hook = {"url": f"http://127.0.0.1:{_closed_port()}/hook", "events": ["*"]}
        async with http.post(console.url("/api/v1/webhooks"), json=hook) as response:
            assert response.status == 201, await response.text()
            webhook_id = (await response.json())["webhook"]["id"]
        async with http.post(console.url("/api/v1/clients"), json={"name": "Acme"}) as response:
            assert response.status == 201, await response.text()

    # Without a reload: the live refresh shows the subscription being retried.
    failing = page.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=str(webhook_id), exact=True)
    )
    await failing.wait_for(timeout=20_000)
    assert await state.inner_text() == "running"
    assert int(await failing.get_by_role("cell").nth(0).inner_text()) >= 1  # attempts
    assert await page.get_by_text("No webhook is failing.").count() == 0
    await assert_accessible(page)
