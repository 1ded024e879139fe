"""Read models page (rebuild with progress, verify with findings) and History page (a
project's per-field diff, the change feed paged with its cursor)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Console, assert_accessible
from tests.browser.test_backups_restore import _api, _project, _token

pytestmark = pytest.mark.browser


async def test_a_read_model_is_rebuilt_and_verified_from_its_page(console: Console) -> None:
    await console.make_user("boss")
    token = await _token(console, "boss")
    await _project(console, token, "Apollo")
    await console.sign_in("boss")
    page = console.page
    await page.get_by_role("link", name="Read models").click()
    await page.get_by_role("heading", name="Read models", level=1).wait_for()
    await assert_accessible(page)
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="projects"))
    assert await row.get_by_role("status").inner_text() == "never"

    await page.get_by_role("button", name="Rebuild projects").click()
    await row.get_by_role("status").filter(has_text="done: rebuilt").wait_for(timeout=30_000)
    assert await row.locator("progress").get_attribute("value") == "100"
    assert await page.get_by_role("button", name="Rebuild projects").is_enabled()

    await page.get_by_role("button", name="Verify projects").click()
    result = page.locator("#verify-result")
    await result.get_by_text("ok, the live copy matches a fresh replay").wait_for(timeout=30_000)
    assert await result.get_by_role("row").count() >= 2  # a header and a checksum per table
    await assert_accessible(page)

    await page.reload()  # the finished rebuild is remembered
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="projects"))
    assert (await row.get_by_role("status").inner_text()).startswith("done")


async def test_history_shows_a_projects_changes_field_by_field_and_the_feed(
    console: Console,
) -> None:
    await console.make_user("boss")
    token = await _token(console, "boss")
    project = await _project(console, token, "Apollo")
    status, _ = await _api(
        console, token, "PATCH", f"/api/v1/projects/{project}", {"name": "Artemis"}
    )
    assert status == 200
    await console.sign_in("boss")
    page = console.page
    await page.get_by_role("link", name="History").click()
    await page.get_by_role("heading", name="History", level=1).wait_for()
    await assert_accessible(page)

    await page.get_by_label("Kind").select_option("project")
    await page.get_by_label("Id").fill(str(project))
    await page.get_by_role("button", name="Show history").click()
    table = page.get_by_role("table", name=f"Every version of Project {project}")
    await table.wait_for()
    rename = table.get_by_role("row").filter(has_text="Artemis")
    assert await rename.locator("del").inner_text() == "Apollo"
    assert await rename.locator("ins").inner_text() == "Artemis"
    assert "name" in await rename.inner_text()
    await assert_accessible(page)

    feed = page.get_by_role("table", name="Events after position 0")
    await feed.get_by_role("rowheader", name="ProjectCreated").wait_for()
    await feed.get_by_role("link", name=f"Project {project}").first.click()
    await page.get_by_role("table", name=f"Every version of Project {project}").wait_for()

    await page.goto(console.url("/admin/history?after=0&limit=2"))
    first = page.get_by_role("table", name="Events after position 0")
    assert await first.get_by_role("rowheader").count() == 2
    await page.get_by_role("link", name="Next page").click()
    await page.wait_for_url("**/admin/history?after=*&limit=2")
    cursor = int(page.url.split("after=")[1].split("&")[0])
    assert cursor > 0
    following = page.get_by_role("table", name=f"Events after position {cursor}")
    positions = [int(p) for p in await following.locator("td.num").all_inner_texts()]
    assert positions and min(positions) > cursor  # the cursor moves on, nothing repeats

    await page.goto(console.url("/admin/history?kind=project&id=999"))
    await page.get_by_role("alert").filter(has_text="no such resource").wait_for()
