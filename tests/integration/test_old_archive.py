"""An archive written by the code before the layout of issue 17 (commit b635bf4) restores
with today's code, and the API shows its data: stored event topics did not change.

`tests/fixtures/archive_b635bf4.tar` was made by `tests/fixtures/make_archive_b635bf4.py`
running b635bf4's code (`timetracker.commands.archive`, since moved to `backups/`).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp.test_utils import TestClient

from tests.integration.test_backup import (  # noqa: F401 - fixtures
    fresh,
    open_store,
    restorer,
    started,
)
from timetracker.commands.application import TimeTracking
from timetracker.http.settings import Settings

ARCHIVE = Path(__file__).resolve().parents[1] / "fixtures" / "archive_b635bf4.tar"
# The token the old code issued into the archive (a test fixture's, valid nowhere else).
OLD_TOKEN = "tt_1So5oLqLCaN8JdBy5XtgfB7CP-y5m6GD"
HEADERS = {"Authorization": f"Bearer {OLD_TOKEN}"}


async def _get(api: TestClient, path: str) -> dict[str, object]:
    response = await api.get(path, headers=HEADERS)
    assert response.status == 200, (path, await response.text())
    body: dict[str, object] = await response.json()
    return body


async def test_an_archive_of_the_old_layout_restores_and_the_api_shows_it(
    fresh: Settings,  # noqa: F811 - the fixture; before `started`: it outlives the app
    started: Callable[[Settings], Awaitable[TestClient]],  # noqa: F811 - the fixture
    open_store: Callable[[Settings], TimeTracking],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    archive = tmp_path / ARCHIVE.name
    shutil.copy(ARCHIVE, archive)
    target = open_store(fresh)
    loop = asyncio.get_running_loop()
    plan = await loop.run_in_executor(None, restorer(fresh, target).plan, archive)
    report = await loop.run_in_executor(None, restorer(fresh, target).restore, plan)
    assert report.events == 17
    assert report.ids == {
        "user": 1,
        "api_token": 1,
        "client": 1,
        "project": 1,
        "task": 1,
        "time_entry": 3,
        "webhook": 0,
    }

    api = await started(fresh)

    project = (await _get(api, "/api/v1/projects/1"))["project"]
    assert isinstance(project, dict)
    assert (project["name"], project["client"]) == ("Legacy Project (renamed)", "Legacy Client")
    task = (await _get(api, "/api/v1/tasks/1"))["task"]
    assert isinstance(task, dict) and task["name"] == "Legacy Task"
    entries = (await _get(api, "/api/v1/time-entries"))["time_entries"]
    assert isinstance(entries, list)
    assert [(e["id"], e["notes"]) for e in entries] == [(3, "timer"), (1, "old work, edited")]
    deleted = await api.get("/api/v1/time-entries/2", headers=HEADERS)
    assert deleted.status == 404
    assert (await deleted.json())["history_url"] == "/api/v1/time-entries/2/history"
    history = (await _get(api, "/api/v1/time-entries/1/history"))["history"]
    assert isinstance(history, list)
    assert [v["event"] for v in history] == ["EntryCreated", "EntryEdited"]
    feed = await _get(api, "/api/v1/events?after=0&limit=100")
    assert isinstance(feed["events"], list) and len(feed["events"]) == 17 - 2  # no name claims
    # New writes continue the restored numbering.
    created = await api.post("/api/v1/projects", json={"name": "New"}, headers=HEADERS)
    assert created.status == 201 and (await created.json())["project"]["id"] == 2
