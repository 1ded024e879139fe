"""The imported-entries read model on PostgreSQL: a batch's keys go in one statement, in log
order, so when two imports recorded one key the first entry keeps it."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from tests.integration.history import T0, build_catalogue, stamp
from timetracker.commands.application import TimeTracking
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.http.settings import Settings
from timetracker.projections.engine.runner import ProjectionRunner, create_schema
from timetracker.projections.imported_entries import ImportedEntriesProjection

pytestmark = pytest.mark.integration


def _imported(store: TimeTracking, number: int, key: str | None) -> Entry:
    project = store.load(Project, "project", 1)
    start = T0 + timedelta(hours=number)
    values = {"start_time": start, "end_time": start + timedelta(minutes=30)}
    return Entry.create(number, 1, project, None, values, "import:toggl", stamp(number), key)


def test_a_batch_records_each_key_once_for_its_first_entry(
    store: TimeTracking, settings: Settings
) -> None:
    projection = ImportedEntriesProjection()
    create_schema(settings.conninfo, [projection])
    build_catalogue(store, projects=1, clients=1, users=1)
    store.save(_imported(store, 1, "a"), _imported(store, 2, None), _imported(store, 3, "b"))
    store.save(_imported(store, 4, "a"), _imported(store, 5, "c"), _imported(store, 6, "c"))
    runner = ProjectionRunner(store, projection, settings.conninfo)
    try:
        runner.catch_up()
    finally:
        runner.close()
    with psycopg.connect(settings.conninfo) as conn:
        rows = conn.execute(
            "SELECT source, external_key, entry_id FROM imported_entries ORDER BY external_key"
        ).fetchall()
    assert rows == [("import:toggl", "a", 1), ("import:toggl", "b", 3), ("import:toggl", "c", 5)]
