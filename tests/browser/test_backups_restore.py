"""Backups and Restore pages: create a backup with progress; restore an archive dropped on the
Restore page and one from its Backups row, following the progress live (also through the
maintenance the restore puts the service in) until the data equals the archive's."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, Response

from tests.browser.conftest import Console, assert_accessible
from timetracker.backups.archive import create_backup
from timetracker.http.keys import read_pool_key, settings_key, time_tracking_key
from timetracker.ops.accounts import issue_token
from timetracker.projections.engine.tracking import wait_for

pytestmark = pytest.mark.browser
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS")  # a folder: keep screenshots there
RESTORE_TIMEOUT_MS = 60_000


async def _token(console: Console, username: str) -> str:
    store = console.server.app[time_tracking_key]
    issued = await asyncio.get_running_loop().run_in_executor(
        None, issue_token, store, username, ["admin:all"], "test", None
    )
    assert await wait_for(console.server.app[read_pool_key], ["accounts"], issued.position, 5.0)
    return str(issued.token)


async def _api(
    console: Console, token: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """One API call; a 503 of the maintenance that is just ending is tried again."""
    deadline = time.monotonic() + 10
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        while True:
            async with http.request(method, console.url(path), json=body) as response:
                if response.status != 503 or time.monotonic() > deadline:
                    return response.status, await response.json()
            await asyncio.sleep(0.1)


async def _project(console: Console, token: str, name: str) -> int:
    status, body = await _api(console, token, "POST", "/api/v1/projects", {"name": name})
    assert status == 201, body
    return int(body["project"]["id"])


async def _projects(console: Console, token: str) -> list[dict[str, Any]]:
    status, body = await _api(console, token, "GET", "/api/v1/projects?limit=100")
    assert status == 200, body
    return sorted(body["projects"], key=lambda p: p["id"])


async def _backup_file(console: Console, destination: Path) -> Path:
    conninfo = console.server.app[settings_key].conninfo
    await asyncio.get_running_loop().run_in_executor(
        None, create_backup, conninfo, destination, None
    )
    return destination


async def _drop(page: Page, selector: str, path: Path) -> None:
    """Drop a file on an element as a person dragging it from their desktop would."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = await page.evaluate_handle(
        """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: "application/x-tar"}));
            return transfer;
        }""",
        [data, path.name],
    )
    await page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    await page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def _record_polls(page: Page) -> list[dict[str, Any]]:
    polls: list[dict[str, Any]] = []

    async def on_response(response: Response) -> None:
        if "/admin/jobs/" in response.url and response.status == 200:
            try:
                polls.append(json.loads(await response.text()))
            except Exception:  # noqa: BLE001 - a page closing mid-read
                return

    page.on("response", on_response)
    return polls


async def test_a_backup_is_created_from_the_page_with_its_progress(console: Console) -> None:
    await console.make_user("boss")
    await console.sign_in("boss")
    page = console.page
    await page.get_by_role("link", name="Backups").click()
    await page.get_by_role("heading", name="Backups", level=1).wait_for()
    await page.get_by_text("No backups yet").wait_for()
    await assert_accessible(page)

    # The URLs, not the bodies: the poll that sees the job done navigates away at once, which
    # can end the page's response before a body is read. The job is read again afterwards.
    polled: list[str] = []
    page.on("response", lambda r: polled.append(r.url) if "/admin/jobs/" in r.url else None)
    await page.get_by_role("button", name="Create backup").click()
    await page.get_by_role("status").filter(has_text="Backup created").wait_for(timeout=30_000)
    assert polled, "the page did not follow the backup job"
    followed = await (await page.request.get(polled[0])).json()
    assert followed["job"]["kind"] == "backup" and followed["job"]["state"] == "done"
    listed = console.server.app[settings_key].backups_path
    names = [p.name for p in listed.iterdir() if p.suffix == ".tar"]
    assert len(names) == 1
    assert (
        names[0] in await page.get_by_role("status").filter(has_text="Backup created").inner_text()
    )
    row = page.get_by_role("row").filter(has_text=names[0])
    cells = row.get_by_role("cell")
    assert int(await cells.nth(1).inner_text()) >= 2  # events: the user and their password
    await assert_accessible(page)
    download = page.get_by_role("link", name=f"Download {names[0]}")
    async with page.expect_download() as caught:
        await download.click()
    saved = await (await caught.value).path()
    assert Path(saved).read_bytes() == (listed / names[0]).read_bytes()


async def test_an_archive_dropped_on_the_restore_page_is_restored_with_live_progress(
    console: Console, tmp_path: Path
) -> None:
    await console.make_user("boss")
    token = await _token(console, "boss")
    await _project(console, token, "Kept")
    archive = await _backup_file(console, tmp_path / "office-backup.tar")
    backed_up = await _projects(console, token)
    await _project(console, token, "Lost after the backup")
    assert len(await _projects(console, token)) == len(backed_up) + 1

    await console.sign_in("boss")
    page = console.page
    await page.get_by_role("link", name="Restore").click()
    await page.get_by_role("heading", name="Restore", level=1).wait_for()
    await assert_accessible(page)
    start = page.get_by_role("button", name="Start restore")
    assert await start.is_disabled()

    await _drop(page, "#dropzone", archive)
    await page.get_by_text(f"Chosen: {archive.name} (").wait_for()
    assert await start.is_disabled()  # not confirmed yet
    await page.get_by_role("button", name="Check archive (dry run)").click()
    report = page.locator("#report")
    await report.get_by_text("Dry run passed").wait_for()
    assert "Events to restore" in await report.inner_text()
    await page.get_by_label("I understand that restoring replaces").check()
    assert await start.is_enabled()
    await assert_accessible(page)

    polls = _record_polls(page)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    await start.click()
    assert await start.is_disabled()
    await page.get_by_text("Restore complete").wait_for(timeout=RESTORE_TIMEOUT_MS)
    assert navigations == []  # live progress, no reload
    assert await page.locator("#progress-bar").get_attribute("value") == "100"
    progress = await page.locator("#progress").inner_text()
    assert "Events loaded" in progress and "Read models replayed" in progress
    assert any(p["maintenance"] for p in polls), "no poll answered during the maintenance"
    assert polls[-1]["job"]["state"] == "done"
    assert polls[-1]["progress"]["percent"] == 100.0
    assert await _projects(console, token) == backed_up  # the data equals the archive's
    assert await start.is_disabled()  # the file was used; a new restore starts anew
    await assert_accessible(page)
    if SCREENSHOTS:  # the README's pictures: CONSOLE_SCREENSHOTS=docs
        await page.set_viewport_size({"width": 900, "height": 700})
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
            await page.screenshot(
                path=f"{SCREENSHOTS}/console-restore-{scheme}.png", full_page=True
            )


async def test_a_backup_is_restored_from_its_row_after_typing_restore(console: Console) -> None:
    await console.make_user("boss")
    token = await _token(console, "boss")
    kept = await _project(console, token, "Kept")
    await console.sign_in("boss")
    page = console.page
    await page.goto(console.url("/admin/backups"))
    await page.get_by_role("button", name="Create backup").click()
    await page.get_by_role("button", name="Restore timetracker-backup-").wait_for(timeout=30_000)
    backed_up = await _projects(console, token)
    status, _ = await _api(console, token, "PATCH", f"/api/v1/projects/{kept}", {"name": "Later"})
    assert status == 200

    await page.get_by_role("button", name="Restore timetracker-backup-").click()
    dialog = page.get_by_role("dialog")
    await dialog.wait_for()
    await dialog.get_by_text("replaces every event").wait_for()
    restore = dialog.get_by_role("button", name="Restore now")
    await dialog.get_by_label("Type RESTORE to confirm").fill("RESTORE")
    assert await restore.is_disabled()  # the dry run comes first
    await dialog.get_by_role("button", name="Check archive (dry run)").click()
    await dialog.get_by_text("Dry run passed").wait_for()
    await assert_accessible(page)
    await dialog.get_by_label("Type RESTORE to confirm").fill("restore")
    assert await restore.is_disabled()
    await dialog.get_by_label("Type RESTORE to confirm").fill("RESTORE")
    await restore.click()

    await page.wait_for_url("**/admin/restore?job=*")
    await page.get_by_text("Restore complete").wait_for(timeout=RESTORE_TIMEOUT_MS)
    assert await _projects(console, token) == backed_up
