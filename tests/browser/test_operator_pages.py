"""Backups, Restore, Read models and History: both themes, 360 px, the keyboard alone, and
the Restore page's answers to a rejected archive and to a failed restore."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import psycopg
import pytest
from playwright.async_api import Page

from tests.archives import flipped, member_span
from tests.browser.conftest import Console, assert_accessible
from tests.browser.test_backups_restore import _backup_file, _project, _token
from timetracker.backups.archive import EVENTS
from timetracker.http.keys import settings_key

pytestmark = pytest.mark.browser
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS")  # a folder: keep screenshots there
PAGES = {
    "Backups": "/admin/backups",
    "Restore": "/admin/restore",
    "Read models": "/admin/projections",
    "History": "/admin/history?kind=project&id=1",
}


async def _background_is_dark(page: Page) -> bool:
    rgb = await page.evaluate(
        "() => getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number)"
    )
    return sum(rgb[:3]) / 3 < 100


async def _some_data(console: Console) -> None:
    """A project and a backup, so that every table has rows."""
    await console.make_user("boss")
    await _project(console, await _token(console, "boss"), "Apollo with a rather long name")
    backups = console.server.app[settings_key].backups_path
    backups.mkdir(parents=True, exist_ok=True)
    await _backup_file(console, backups / "timetracker-backup-20260101T000000Z-0123abcd.tar")


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_each_page_follows_the_system_theme_and_is_accessible(
    console: Console, scheme: str
) -> None:
    await _some_data(console)
    await console.page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    await console.sign_in("boss")
    page = console.page
    for label, path in PAGES.items():
        await page.goto(console.url(path))
        await page.get_by_role("heading", name=label, level=1).wait_for()
        assert await _background_is_dark(page) is (scheme == "dark")
        await assert_accessible(page)


async def test_each_page_fits_a_360_pixel_wide_screen(console: Console) -> None:
    await _some_data(console)
    page = await console.other_browser(viewport={"width": 360, "height": 740})
    await console.sign_in("boss", page=page)
    for label, path in PAGES.items():
        await page.goto(console.url(path))
        await page.get_by_role("heading", name=label, level=1).wait_for()
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        wide = await page.evaluate(
            """() => [...document.querySelectorAll("body *")]
                .filter(el => el.getBoundingClientRect().right > 361
                              && !el.closest(".table-wrap"))
                .slice(0, 5).map(el => el.tagName + "." + el.className + "#" + el.id)"""
        )
        assert width <= 360, f"{path} is {width} px wide: {wide}"
        await assert_accessible(page)
        if SCREENSHOTS:
            name = label.lower().replace(" ", "-")
            await page.screenshot(path=f"{SCREENSHOTS}/{name}-360.png", full_page=True)


async def _tab_to(page: Page, text: str, limit: int = 60) -> None:
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!["A", "BUTTON", "INPUT"].includes(el.tagName)) return "";
                const label = el.id && document.querySelector(`label[for="${el.id}"]`);
                return [el.getAttribute("aria-label"), el.textContent,
                        label && label.textContent].join(" ");
            }"""
        )
        if text in focused:
            return
    raise AssertionError(f"Tab never reached {text!r}")


async def test_a_row_restore_and_the_restore_form_work_from_the_keyboard(
    console: Console, tmp_path: Path
) -> None:
    await _some_data(console)
    await console.sign_in("boss")
    page = console.page
    await page.goto(console.url("/admin/backups"))
    await _tab_to(page, "Restore timetracker-backup-")
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    await dialog.wait_for()
    assert await page.evaluate("() => !!document.activeElement.closest('dialog')")
    await _tab_to(page, "Check archive (dry run)")
    await page.keyboard.press("Enter")
    await dialog.get_by_text("Dry run passed").wait_for()
    await page.keyboard.press("Escape")
    await dialog.wait_for(state="hidden")
    assert "Restore timetracker-backup-" in await page.evaluate(
        "() => document.activeElement.getAttribute('aria-label')"
    )

    await page.goto(console.url("/admin/restore"))
    archive = await _backup_file(console, tmp_path / "kept.tar")
    await page.set_input_files("#archive-file", archive)
    await page.get_by_text("Chosen: kept.tar").wait_for()
    await _tab_to(page, "I understand")  # the checkbox's label follows it
    await page.keyboard.press("Space")
    await _tab_to(page, "Start restore")
    assert await page.get_by_role("button", name="Start restore").is_enabled()


async def test_a_damaged_archive_is_refused_by_the_dry_run_and_nothing_changes(
    console: Console, tmp_path: Path
) -> None:
    await _some_data(console)
    good = await _backup_file(console, tmp_path / "good.tar")
    start, _ = member_span(good, EVENTS)
    damaged = flipped(good, start + 10, tmp_path / "damaged.tar")
    await console.sign_in("boss")
    page = console.page
    await page.goto(console.url("/admin/restore"))
    await page.set_input_files("#archive-file", damaged)
    await page.get_by_label("I understand that restoring replaces").check()
    errors_before = list(console.errors)
    await page.get_by_role("button", name="Start restore").click()
    alert = page.get_by_role("alert").filter(has_text="The dry run rejected the archive")
    await alert.wait_for()
    assert await page.locator("#progress").is_hidden()  # no restore was started
    assert await page.get_by_role("button", name="Start restore").is_enabled()  # try again
    uploads = console.server.app[settings_key].backups_path / "uploads"
    assert list(uploads.iterdir()) == []  # the refused upload is not kept
    # The 422 of the refused upload is an answer the page shows, not a fault.
    console.errors[:] = [e for e in console.errors if "/admin/restore/upload" not in e]
    assert console.errors == errors_before


async def test_a_failed_restore_shows_the_reason_and_what_to_do_next(console: Console) -> None:
    await console.make_user("boss")
    conninfo = console.server.app[settings_key].conninfo

    def failed_job() -> int:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            row = conn.execute(
                "INSERT INTO backup_jobs (kind, state, phase, done, total, filename, error,"
                " finished_at) VALUES ('restore', 'failed', 'failed', 10, 40, 'x.tar',"
                " 'The events are restored, but rebuilding the read models failed (boom).',"
                " now()) RETURNING id"
            ).fetchone()
        assert row is not None
        return int(row[0])

    job = await asyncio.get_running_loop().run_in_executor(None, failed_job)
    await console.sign_in("boss")
    page = console.page
    await page.goto(console.url(f"/admin/restore?job={job}"))
    alert = page.get_by_role("alert").filter(has_text="The restore failed")
    await alert.wait_for()
    assert "rebuilding the read models failed (boom)" in await alert.inner_text()
    outcome = page.locator("#outcome")
    assert "timetracker backup maintenance off" in await outcome.inner_text()
    await outcome.get_by_role("link", name="Open the Read models page to rebuild").wait_for()
    assert await page.get_by_role("button", name="Start restore").is_disabled()
    await assert_accessible(page)
