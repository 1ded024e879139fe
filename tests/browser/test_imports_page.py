"""Imports page: a CSV export checked by a dry run (counts, unreadable rows by line), then
imported by a job followed live until its entries are listed; signed-in admins only."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.browser.conftest import PASSWORD, Console, assert_accessible
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.ops.accounts import issue_token, register_user
from timetracker.projections.engine.tracking import wait_for

pytestmark = pytest.mark.browser
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS")  # a folder: keep screenshots there
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "imports" / "toggl.csv"
IMPORT_TIMEOUT_MS = 60_000


async def _person(console: Console, username: str, email: str, full_name: str) -> int:
    """A user the export's rows name (by email or full name), without a console password."""
    store = console.server.app[time_tracking_key]
    user_id: int = await asyncio.get_running_loop().run_in_executor(
        None, register_user, store, username, email, full_name, False
    )
    return user_id


async def _token(console: Console, username: str) -> str:
    """An API token of this admin, to read the entries the import created."""
    store = console.server.app[time_tracking_key]
    issued = await asyncio.get_running_loop().run_in_executor(
        None, issue_token, store, username, ["admin:all"], "test", None
    )
    assert await wait_for(console.server.app[read_pool_key], ["accounts"], issued.position, 5.0)
    return str(issued.token)


async def _entries(console: Console, token: str, user_id: int) -> list[dict[str, Any]]:
    query = f"user_id={user_id}&start_date=2024-01-01&end_date=2024-01-31"
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.get(console.url(f"/api/v1/time-entries?{query}")) as response,
    ):
        assert response.status == 200, await response.text()
        entries: list[dict[str, Any]] = (await response.json())["time_entries"]
    return entries


async def test_an_export_is_checked_then_imported_with_live_progress(console: Console) -> None:
    await console.make_user("boss")
    alice = await _person(console, "alice", "alice@example.com", "Alice Example")
    bob = await _person(console, "bob", "bob@example.com", "Bob Builder")
    token = await _token(console, "boss")
    await console.sign_in("boss")
    page = console.page
    await page.get_by_role("link", name="Imports").click()
    await page.get_by_role("heading", name="Imports", level=1).wait_for()
    await assert_accessible(page)
    start = page.get_by_role("button", name="Start import")
    assert await start.is_disabled()

    await page.get_by_label("CSV file").set_input_files(SAMPLE)
    await page.get_by_text("Chosen: toggl.csv (683 bytes)").wait_for()
    await page.get_by_label("Format").select_option(label="Toggl Track")
    await page.get_by_label("Time zone (optional)").fill("Europe/Berlin")
    assert await start.is_disabled()  # the dry run comes first
    await page.get_by_role("button", name="Check file (dry run)").click()
    report = page.locator("#report")
    await report.get_by_text("Dry run passed: 3 entries would be created").wait_for()
    text = await report.inner_text()
    for fact in (
        "Rows read\n4",
        "Entries to create\n3",
        "Already imported\n0",
        "Clients to create\n1: Acme Corp",
        "Projects to create\n2: Website redesign (Acme Corp), Internal",
        "Tasks to create\n1: Design in Website redesign (Acme Corp)",
    ):
        assert fact in text, text
    problem = report.get_by_role("row").filter(has_text="not a time of day")
    assert await problem.get_by_role("cell").first.inner_text() == "5"
    assert await start.is_enabled()
    await assert_accessible(page)

    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    await start.click()
    outcome = page.locator("#outcome")
    await outcome.get_by_text("Import complete").wait_for(timeout=IMPORT_TIMEOUT_MS)
    assert navigations == []  # live progress, no reload
    assert await page.locator("#progress-bar").get_attribute("value") == "100"
    progress = await page.locator("#progress").inner_text()
    assert "State\ndone" in progress and "Percent\n100 %" in progress
    assert "Done / total\n1 / 1" in progress  # the read models' phase, last
    result = await outcome.inner_text()
    assert "3 entries, 1 client, 2 projects and 1 task created" in result
    assert "Shown in every read model\nyes" in result
    assert await start.is_disabled()  # another import starts from a new dry run

    shown = [
        (e["start_time"], e["duration_hours"], e["source"])
        for e in await _entries(console, token, alice)
    ]
    assert sorted(shown) == [
        ("2024-01-15T08:00:00Z", 1.5, "import:toggl"),
        ("2024-01-15T09:30:00Z", 0.25, "import:toggl"),
    ]
    [bobs] = await _entries(console, token, bob)
    assert (bobs["start_time"], bobs["duration_hours"]) == ("2024-01-15T22:30:00Z", 1.0)
    await assert_accessible(page)
    if SCREENSHOTS:  # the README's picture: CONSOLE_SCREENSHOTS=docs
        await page.set_viewport_size({"width": 900, "height": 700})
        await page.emulate_media(color_scheme="light")
        await page.screenshot(path=f"{SCREENSHOTS}/console-imports-light.png", full_page=True)


async def test_unreadable_rows_and_bad_options_are_shown_on_the_page(
    console: Console, tmp_path: Path
) -> None:
    await console.make_user("boss")
    export = tmp_path / "clockify-january.csv"
    export.write_text(
        "Project,Client,Description,Task,User,Email,Billable,Start Date,Start Time,"
        "End Date,End Time\n"
        "Website,Acme,Fine,,Boss,,Yes,01/15/2024,09:00:00,01/15/2024,10:00:00\n"
        "Website,Acme,Bad day,,Boss,,Yes,02/30/2024,09:00:00,02/30/2024,10:00:00\n",
        encoding="utf-8",
    )
    await console.sign_in("boss")
    page = console.page
    await page.goto(console.url("/admin/imports"))
    await page.get_by_label("CSV file").set_input_files(export)
    check = page.get_by_role("button", name="Check file (dry run)")
    start = page.get_by_role("button", name="Start import")
    errors_before = list(console.errors)

    await check.click()  # Toggl Track, the first format: the header does not fit
    alert = page.get_by_role("alert")
    await alert.filter(has_text="File: Not a toggl export: the header lacks").wait_for()
    assert await start.is_disabled()
    await page.get_by_label("Format").select_option(label="Clockify")
    await page.get_by_label("User (optional)").fill("nobody")
    await check.click()
    await alert.filter(has_text="User: No user is named 'nobody'.").wait_for()
    assert await start.is_disabled()
    await page.get_by_label("User (optional)").fill("boss")
    await page.get_by_label("Time zone (optional)").fill("Mars/Olympus")
    await check.click()
    await alert.filter(has_text="Time zone: Not an IANA time zone.").wait_for()
    await page.get_by_label("Time zone (optional)").fill("")
    await check.click()

    report = page.locator("#report")
    await report.get_by_text("Dry run passed: 1 entry would be created").wait_for()
    assert await alert.is_hidden()
    cells = await report.locator("tbody tr").get_by_role("cell").all_inner_texts()
    assert cells[0] == "3", cells  # the row's line in the file
    assert "'02/30/2024' is not a date" in cells[1], cells
    assert "Rows that cannot be imported\n1" in await report.inner_text()
    assert await start.is_enabled()
    await page.get_by_label("Format").select_option(label="Kimai")
    assert await start.is_disabled()  # a changed option needs a new dry run
    await assert_accessible(page)
    # The 400s of the refused checks are answers the page shows, not faults.
    console.errors[:] = [e for e in console.errors if "/admin/imports/dry-run" not in e]
    assert console.errors == errors_before


async def test_the_page_is_for_signed_in_admins_only(console: Console) -> None:
    await console.make_user("boss")
    page = console.page
    await page.goto(console.url("/admin/imports"))
    assert page.url == console.url("/admin/login?next=/admin/imports")
    await page.get_by_role("heading", name="Sign in").wait_for()
    refused = await page.request.post(
        console.url("/admin/imports/dry-run"), multipart={"format": "toggl"}, max_redirects=0
    )
    assert refused.status == 403  # no session, no CSRF token: nothing is read
    await page.get_by_label("Username").fill("boss")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(console.url("/admin/imports"))  # back to the page asked for
    await page.get_by_role("heading", name="Imports", level=1).wait_for()
    refused = await page.request.post(
        console.url("/admin/imports/start"), multipart={"format": "toggl"}, max_redirects=0
    )
    assert refused.status == 403  # signed in, but without the session's CSRF token
