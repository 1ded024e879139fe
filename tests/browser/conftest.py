"""The browser-test harness: the whole service on a test server, driven by headless Chromium.

- `console` starts the application (`create_app`, the same as `timetracker serve` runs) on
  an aiohttp test server at 127.0.0.1 with a fresh database and Redis keyspace, and opens
  Debian's `chromium` through Playwright (never a downloaded browser).
- Every request the browser makes to anything but 127.0.0.1 is aborted and recorded, and
  every console error (a script error, or a Content-Security-Policy violation) is recorded
  too: the fixture fails the test if either list is not empty at its end.
- `axe_violations(page)` runs the vendored axe-core in the page and returns the serious and
  critical violations.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    Route,
    async_playwright,
)

from tests.api.conftest import close_promptly
from timetracker.commands.messages import SetPassword
from timetracker.http.app import create_app
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.http.settings import Settings
from timetracker.ops.accounts import operator_stamp, register_user
from timetracker.projections.engine.tracking import wait_for

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
PASSWORD = "correct horse battery staple"
ALLOWED_HOST = "127.0.0.1"
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 15_000


def chromium_executable() -> str:
    """Debian's chromium (`apt-get install chromium`); `.ci/run` installs it when missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "No `chromium` on PATH: install Debian's package (apt-get install -y chromium).",
            pytrace=False,
        )
    return found


@dataclass
class Console:
    """A running service and a browser page on it."""

    server: TestServer
    browser: Browser
    context: BrowserContext
    page: Page
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{ALLOWED_HOST}:{self.server.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    async def make_user(
        self, username: str, *, admin: bool = True, password: str | None = PASSWORD
    ) -> int:
        """Register a user (an admin by default) with a console password."""
        store = self.server.app[time_tracking_key]
        loop = asyncio.get_running_loop()
        user_id: int = await loop.run_in_executor(
            None, register_user, store, username, None, None, admin
        )
        if password is not None:
            written = await loop.run_in_executor(
                None, store.set_password, SetPassword(user_id, password, operator_stamp())
            )
            assert written.position is not None
            assert await wait_for(
                self.server.app[read_pool_key], ["accounts"], written.position, 5.0
            )
        return user_id

    async def sign_in(
        self, username: str, password: str = PASSWORD, page: Page | None = None
    ) -> None:
        """Fill in and send the sign-in form as a person would."""
        page = page or self.page
        await page.goto(self.url("/admin/login"))
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_load_state()

    async def other_browser(self, **options: Any) -> Page:
        """A page in a browser context of its own (its own cookies: another person), with
        the same watch on requests and errors. `options` go to `new_context`."""
        context = await self.browser.new_context(**{"viewport": VIEWPORT, **options})
        context.set_default_timeout(TIMEOUT_MS)
        await context.route("**/*", self._only_local)
        self.contexts.append(context)
        page = await context.new_page()
        _watch(page, self.errors)
        return page

    async def _only_local(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == ALLOWED_HOST:
            await route.continue_()
        else:
            self.blocked.append(route.request.url)
            await route.abort()


def _watch(page: Page, errors: list[str]) -> None:
    """Record script errors, CSP violations and failed loads of anything but a page itself
    (an error page, such as the 403 or 429 page, is an answer, not a fault)."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        request = response.request
        if response.status >= 400 and request.resource_type != "document":
            errors.append(f"{response.status} {request.method} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", on_response)


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # evaluate() runs through the DevTools protocol, which the page's CSP does not
        # govern; a <script> tag would be refused (as it should be).
        await page.evaluate(AXE_SOURCE)
    violations: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
        }"""
    )
    return violations


async def assert_accessible(page: Page) -> None:
    """No serious or critical axe-core violation on the page."""
    violations = await axe_violations(page)
    assert violations == [], f"axe-core on {page.url}: {violations}"


@pytest.fixture
def console_settings(settings: Settings) -> Settings:
    """The test settings; a test may `dataclasses.replace` them through `console_with`."""
    return settings


ConsoleFactory = Callable[..., Awaitable[Console]]


@pytest.fixture
async def console_with(settings: Settings) -> AsyncIterator[ConsoleFactory]:
    """Start the service with changed settings and a browser on it:
    `console = await console_with(console_session_idle_seconds=2)`."""
    started: list[tuple[TestServer, Settings]] = []
    consoles: list[Console] = []
    async with async_playwright() as playwright:
        browser: Browser | None = None

        async def start(**changes: Any) -> Console:
            nonlocal browser
            changed = dataclasses.replace(settings, **changes)
            server = TestServer(create_app(changed), host=ALLOWED_HOST)
            await server.start_server()
            started.append((server, changed))
            if browser is None:
                browser = await playwright.chromium.launch(
                    executable_path=chromium_executable(), args=["--no-sandbox"]
                )
            context = await browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(TIMEOUT_MS)
            page = await context.new_page()
            console = Console(server, browser, context, page)
            _watch(page, console.errors)
            await context.route("**/*", console._only_local)
            consoles.append(console)
            return console

        try:
            yield start
        finally:
            for console in consoles:
                for context in (console.context, *console.contexts):
                    await context.close()
            if browser is not None:
                await browser.close()
            for server, changed in started:
                await _stop(server, changed)
    for console in consoles:
        assert console.blocked == [], f"requests left 127.0.0.1: {console.blocked}"
        assert console.errors == [], f"browser console errors: {console.errors}"


async def _stop(server: TestServer, settings: Settings) -> None:
    class _Client:  # close_promptly wants something with an async close()
        async def close(self) -> None:
            await server.close()

    await close_promptly(_Client(), settings)  # type: ignore[arg-type]


@pytest.fixture
async def console(console_with: ConsoleFactory) -> Console:
    """The service with default test settings and a browser page on it."""
    return await console_with()
