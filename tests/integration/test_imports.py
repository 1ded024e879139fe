"""Imports of each tool's CSV export into real PostgreSQL: names, hours, users, re-imports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import dict_row

from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import ArchiveProject, CreateProject
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.imports.formats import FORMATS, ImportFormatError
from timetracker.imports.importer import Importer, ImportUserError
from timetracker.ops.accounts import register_user

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "imports"
BERLIN = ZoneInfo("Europe/Berlin")


def operator() -> Stamp:
    return Stamp(at=datetime.now(UTC), user_id=None, request_id="test-import", is_admin=True)


def sample(fmt: str) -> str:
    return (SAMPLES / f"{fmt}.csv").read_text(encoding="utf-8")


def entries(settings: Settings) -> list[dict[str, Any]]:
    with psycopg.connect(settings.conninfo, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT e.*, p.name AS project, c.name AS client, t.name AS task, u.username"
            " FROM time_entries e JOIN projects p ON p.id = e.project_id"
            " LEFT JOIN clients c ON c.id = p.client_id LEFT JOIN tasks t ON t.id = e.task_id"
            " JOIN users u ON u.id = e.user_id ORDER BY e.start_time, e.id"
        ).fetchall()


def event_count(settings: Settings) -> int:
    with psycopg.connect(settings.conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM timetracking_events").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def people(store: TimeTracking) -> dict[str, int]:
    return {
        "alice": register_user(store, "alice", "alice@example.com", "Alice Example", False),
        "bob": register_user(store, "bob", "bob@example.com", "Bob Builder", False),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_sample_of_each_format_imports_with_its_hours_names_and_users_once(
    fmt: str, store: TimeTracking, settings: Settings, people: dict[str, int]
) -> None:
    importer = Importer(store, settings.conninfo)

    plan = importer.plan(fmt, sample(fmt), BERLIN)

    assert len(plan.entries) == 3
    assert [p.line for p in plan.problems] == [5]  # each sample's last row is unreadable
    assert plan.clients_to_create == ["Acme Corp"] + (["Internal"] if fmt == "kimai" else [])
    before = event_count(settings)
    assert before == event_count(settings)  # planning writes nothing
    result = importer.run(plan, operator())
    importer.refresh()

    assert result.entries_created == 3
    rows = entries(settings)
    assert [(r["username"], r["project"], r["client"]) for r in rows] == [
        ("alice", "Website redesign", "Acme Corp"),
        ("alice", "Website redesign", "Acme Corp"),
        ("bob", "Internal", "Internal" if fmt == "kimai" else None),
    ]
    assert [r["duration_seconds"] for r in rows] == [5400, 900, 3600]
    assert {r["source"] for r in rows} == {f"import:{fmt}"}
    assert rows[0]["task"] == "Design" and rows[0]["notes"] == "Homepage wireframes"
    if fmt != "harvest":  # Harvest's export has days and hours, no clock times
        assert rows[0]["start_time"] == datetime(2024, 1, 15, 8, 0, tzinfo=UTC)  # 09:00 Berlin
        assert rows[2]["end_time"] == datetime(2024, 1, 15, 23, 30, tzinfo=UTC)
        assert rows[0]["tags"] == "design,client"
    else:
        assert rows[0]["start_time"] == datetime(2024, 1, 14, 23, 0, tzinfo=UTC)

    # The same file again creates nothing.
    events = event_count(settings)
    again = importer.plan(fmt, sample(fmt), BERLIN)
    assert again.entries == [] and again.already_imported == 3
    assert again.clients_to_create == again.projects_to_create == again.tasks_to_create == []
    assert importer.run(again, operator()).entries_created == 0
    assert event_count(settings) == events


def test_user_maps_every_row_to_one_user_and_names_nobody_is_refused(
    store: TimeTracking, settings: Settings, people: dict[str, int]
) -> None:
    importer = Importer(store, settings.conninfo)
    plan = importer.plan("toggl", sample("toggl"), BERLIN, username="bob")
    assert {user for _, user in plan.entries} == {people["bob"]}
    with pytest.raises(ImportUserError):
        importer.plan("toggl", sample("toggl"), BERLIN, username="nobody")
    with pytest.raises(ImportFormatError, match="lacks"):
        importer.plan("harvest", sample("toggl"), BERLIN)


def test_unknown_users_and_archived_projects_are_reported_by_line(
    store: TimeTracking, settings: Settings
) -> None:
    register_user(store, "alice", "alice@example.com", "Alice Example", False)
    written = store.create_project(CreateProject(values={"name": "Internal"}, stamp=operator()))
    store.archive_project(ArchiveProject(written.id, operator()))
    importer = Importer(store, settings.conninfo)

    plan = importer.plan("timetracker", sample("timetracker"))

    problems = {p.line: p.message for p in plan.problems}
    assert "No user matches 'Bob Builder'" in problems[4]
    assert "no end time" in problems[5]
    assert len(plan.entries) == 2
    importer.run(plan, operator())
    importer.refresh()
    assert len(entries(settings)) == 2

    # Bob arrives, the project is still archived: his row is refused, by line.
    register_user(store, "bob", "bob@example.com", "Bob Builder", False)
    plan = importer.plan("timetracker", sample("timetracker"))
    assert plan.already_imported == 2
    assert [p.line for p in plan.problems] == [4, 5]
    assert "archived" in plan.problems[0].message


def test_a_large_file_imports_in_batches_and_dry_run_writes_nothing(
    store: TimeTracking, settings: Settings, people: dict[str, int]
) -> None:
    header = sample("toggl").splitlines()[0]
    lines = [header] + [
        f"Alice Example,alice@example.com,Acme Corp,Project {n % 3},,Row {n},Yes,"
        f"2024-02-{1 + n % 28:02d},{n % 20:02d}:00:00,2024-02-{1 + n % 28:02d},"
        f"{n % 20:02d}:30:00,00:30:00,,"
        for n in range(2500)
    ]
    importer = Importer(store, settings.conninfo)
    before = event_count(settings)

    plan = importer.plan("toggl", "\n".join(lines))

    assert len(plan.entries) == 2500 and plan.problems == []
    assert len(plan.projects_to_create) == 3
    assert event_count(settings) == before
    seen: list[tuple[int, int]] = []
    result = importer.run(plan, operator(), lambda done, total: seen.append((done, total)))
    assert result.entries_created == 2500
    assert seen == [(1000, 2500), (2000, 2500), (2500, 2500)]
    importer.refresh()
    assert len(entries(settings)) == 2500
