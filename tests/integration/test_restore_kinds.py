"""A restore moves the id sequence of every numbered kind of the registry past its ids."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.test_backup import fresh, open_store, restorer  # noqa: F401 - fixtures
from timetracker.backups.archive import create_backup
from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import (
    CreateClient,
    CreateEntry,
    CreateProject,
    CreateTask,
    CreateWebhook,
    IssueApiToken,
    RegisterUser,
)
from timetracker.domain.kinds import KINDS
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def _stamp(user_id: int | None = None) -> Stamp:
    return Stamp(at=NOW, user_id=user_id, request_id="kinds", is_admin=True)


def _one_of_each_numbered_kind(store: TimeTracking, count: int) -> None:
    for n in range(count):
        user = store.register_user(RegisterUser(f"u{n}", None, None, "user", _stamp())).id
        store.issue_api_token(IssueApiToken(f"u{n}", ["read:*"], "t", None, _stamp()))
        store.create_client(CreateClient({"name": f"Client {n}"}, _stamp(user)))
        project = store.create_project(CreateProject({"name": f"Project {n}"}, _stamp(user))).id
        store.create_task(CreateTask(project, {"name": f"Task {n}"}, _stamp(user)))
        values = {"project_id": project, "start_time": NOW, "end_time": NOW + timedelta(hours=1)}
        store.create_entry(CreateEntry(user, values, _stamp(user)))
        hook = {"url": f"https://hooks.example.test/{n}", "events": ["*"]}
        store.create_webhook(CreateWebhook(hook, _stamp(user)))


def test_a_restore_moves_every_numbered_kinds_sequence_past_the_restored_ids(
    store: TimeTracking,
    settings: Settings,
    fresh: Settings,  # noqa: F811 - the fixture
    open_store: Callable[[Settings], TimeTracking],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    _one_of_each_numbered_kind(store, 2)
    archive = tmp_path / "kinds.tar"
    create_backup(settings.conninfo, archive)
    target = open_store(fresh)

    report = restorer(fresh, target).restore(restorer(fresh, target).plan(archive))

    numbered = {kind.name for kind in KINDS if kind.numbered}
    assert report.ids == dict.fromkeys(numbered, 2)
    assert {kind: target.ids.next_id(kind) for kind in numbered} == dict.fromkeys(numbered, 3)
