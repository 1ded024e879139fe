"""The layout: eight pages in the navigation, themes, 360 px, keyboard only, modals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.browser.conftest import PASSWORD, Console, assert_accessible

pytestmark = pytest.mark.browser

PAGES = {
    "Dashboard": "/admin/",
    "API tokens": "/admin/api-tokens",
    "Users": "/admin/users",
    "Backups": "/admin/backups",
    "Restore": "/admin/restore",
    "Imports": "/admin/imports",
    "Read models": "/admin/projections",
    "History": "/admin/history",
}
MINE = ("Dashboard", "API tokens", "Users")
# Set CONSOLE_SCREENSHOTS=<folder> to keep a screenshot of each page in both themes.
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS")


async def _background_is_dark(page: Page) -> bool:
    rgb = await page.evaluate(
        "() => getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number)"
    )
    return sum(rgb[:3]) / 3 < 100


async def test_every_page_is_in_the_navigation_with_its_heading(console: Console) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    page = console.page
    nav = page.get_by_role("navigation", name="Console pages")
    assert await nav.get_by_role("link").all_inner_texts() == list(PAGES)
    for label, path in PAGES.items():
        await nav.get_by_role("link", name=label, exact=True).click()
        await page.wait_for_url(console.url(path))
        await page.get_by_role("heading", name=label, level=1).wait_for()
        current = nav.get_by_role("link", name=label, exact=True)
        assert await current.get_attribute("aria-current") == "page"
        await assert_accessible(page)


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_theme_follows_the_system_and_every_page_is_accessible_in_it(
    console: Console, scheme: str
) -> None:
    await console.make_user("boss")
    await console.page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    await console.sign_in("boss")
    page = console.page
    for label in MINE:
        await page.goto(console.url(PAGES[label]))
        assert await _background_is_dark(page) is (scheme == "dark")
        await assert_accessible(page)
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            name = label.lower().replace(" ", "-")
            await page.screenshot(path=f"{SCREENSHOTS}/{name}-{scheme}.png", full_page=True)


async def test_the_theme_toggle_overrides_the_system_and_is_remembered(console: Console) -> None:
    await console.make_user("boss")
    page = console.page
    await page.emulate_media(color_scheme="light")
    await console.sign_in("boss")
    toggle = page.get_by_role("button", name="Dark theme")
    assert await toggle.get_attribute("aria-pressed") == "false"
    await toggle.click()
    assert await _background_is_dark(page)
    assert await toggle.get_attribute("aria-pressed") == "true"
    await page.goto(console.url("/admin/users"))
    assert await _background_is_dark(page)
    await assert_accessible(page)
    await page.get_by_role("button", name="Dark theme").click()
    assert not await _background_is_dark(page)


async def test_pages_fit_a_360_pixel_wide_screen(console: Console) -> None:
    await console.make_user("boss")
    page = await console.other_browser(viewport={"width": 360, "height": 740})
    await console.sign_in("boss", page=page)
    for path in ("/admin/login", *(PAGES[label] for label in MINE)):
        await page.goto(console.url(path))
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        wide = await page.evaluate(
            """() => [...document.querySelectorAll("body *")]
                .filter(el => el.getBoundingClientRect().right > 361)
                .slice(0, 5).map(el => el.tagName + "." + el.className + "#" + el.id)"""
        )
        assert width <= 360, f"{path} is {width} px wide: {wide}"
        if path != "/admin/login":
            for label in PAGES:
                link = page.get_by_role("link", name=label, exact=True)
                assert await link.is_visible()
        await assert_accessible(page)
        if SCREENSHOTS:
            name = path.strip("/").replace("/", "-") or "admin"
            await page.screenshot(path=f"{SCREENSHOTS}/{name}-360.png", full_page=True)


async def _focused(page: Page) -> dict[str, str]:
    return await page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {tag: el.tagName, id: el.id, text: (el.textContent || "").trim(),
                    outline: style.outlineStyle, in_dialog: String(!!el.closest("dialog"))};
        }"""
    )


async def test_the_console_works_from_the_keyboard_alone(console: Console) -> None:
    await console.make_user("boss")
    page = console.page
    await page.goto(console.url("/admin/login"))
    assert (await _focused(page))["id"] == "username"  # the form has the focus at once
    await page.keyboard.type("boss")
    await page.keyboard.press("Tab")
    focused = await _focused(page)
    assert focused["id"] == "password"
    assert focused["outline"] != "none"  # the focus is visible
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(console.url("/admin/"))

    await page.goto(console.url("/admin/api-tokens"))
    # Tab to "Create token" and open the form with Enter.
    for _ in range(30):
        await page.keyboard.press("Tab")
        focused = await _focused(page)
        if focused["text"] == "Create token":
            break
    else:
        raise AssertionError("Tab never reached the Create token button")
    assert focused["outline"] != "none"
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    await dialog.wait_for()
    # The focus is in the form, and Tab keeps it there, round and round.
    for _ in range(25):
        assert (await _focused(page))["in_dialog"] == "true"
        await page.keyboard.press("Tab")
    for _ in range(5):
        await page.keyboard.press("Shift+Tab")
        assert (await _focused(page))["in_dialog"] == "true"
    await page.keyboard.press("Escape")
    await dialog.wait_for(state="hidden")
    assert (await _focused(page))["text"] == "Create token"  # back where it was

    # Fill in and send the form by keyboard.
    await page.keyboard.press("Enter")
    await page.get_by_label("Name").focus()
    await page.keyboard.type("keyboard token")
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="Token tt_", exact=False).wait_for()
