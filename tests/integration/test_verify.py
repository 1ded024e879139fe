"""Verify compares the live copy without holding its runner still."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from tests.integration.history import build_projects, positions
from timetracker.commands.application import TimeTracking
from timetracker.http.settings import Settings
from timetracker.projections.base import Projection
from timetracker.projections.engine import verify as verify_module
from timetracker.projections.engine.runner import catch_up_each
from timetracker.projections.engine.verify import verify

pytestmark = pytest.mark.integration


@pytest.fixture
def live_projects(
    store: TimeTracking, projections: list[Projection], settings: Settings
) -> Projection:
    """The projects read model over 30 projects changed twice each, caught up."""
    projects = next(p for p in projections if p.name == "projects")
    build_projects(store, projects=30, updates=2)
    catch_up_each(store, [projects], settings.conninfo)
    return projects


def test_the_live_read_model_goes_on_while_verify_compares_it(
    store: TimeTracking,
    live_projects: Projection,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    projects = live_projects
    compared_at = store.recorder.max_notification_id()
    went_on: list[bool] = []
    live_runner = threading.Thread(
        target=catch_up_each, args=(store, [projects], settings.conninfo)
    )
    checksum = verify_module._table_checksum

    def checksum_while_writes_go_on(cursor: psycopg.Cursor[Any], schema: str, table: str) -> str:
        if not went_on:  # during the comparison, the live copy's runner applies new events
            build_projects(store, projects=5, updates=0, first=100)
            live_runner.start()
            live_runner.join(10)
            went_on.append(not live_runner.is_alive())
        return checksum(cursor, schema, table)

    monkeypatch.setattr(verify_module, "_table_checksum", checksum_while_writes_go_on)
    try:
        checked = verify(store, projects, settings.conninfo)
    finally:
        live_runner.join(30)  # a runner that waited goes on once the comparison ends

    assert went_on == [True], "the live copy's runner waited for the comparison"
    # compared as the snapshot showed it, at the position the scratch copy was brought to
    assert checked.ok, checked.mismatches
    assert checked.position == compared_at
    assert positions(settings.conninfo)["projects"] == store.recorder.max_notification_id()


def test_a_live_copy_that_moved_before_the_snapshot_is_caught_up_with_and_looked_at_again(
    store: TimeTracking,
    live_projects: Projection,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    projects = live_projects
    looks: list[int] = []
    live_row = verify_module._live_row

    def moving_live_row(cursor: psycopg.Cursor[Any], name: str) -> tuple[int, str | None]:
        if not looks:  # between the scratch copy's catch-up and the snapshot
            build_projects(store, projects=5, updates=0, first=100)
            catch_up_each(store, [projects], settings.conninfo)
        row = live_row(cursor, name)
        looks.append(row[0])
        return row

    monkeypatch.setattr(verify_module, "_live_row", moving_live_row)
    checked = verify(store, projects, settings.conninfo)

    head = store.recorder.max_notification_id()
    assert looks == [head, head]  # found ahead of the scratch copy, then level with it
    assert checked.ok, checked.mismatches
    assert checked.position == head


def test_a_row_whose_stored_json_disagrees_with_its_columns_is_a_difference(
    store: TimeTracking, live_projects: Projection, settings: Settings
) -> None:
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE projects SET body = json_build_object('id', id, 'name', 'tampered')"
            " WHERE id = (SELECT min(id) FROM projects)"
        )

    checked = verify(store, live_projects, settings.conninfo)

    assert not checked.ok
    assert any("tampered" in line and "only live" in line for line in checked.mismatches)
    assert any("only replayed" in line for line in checked.mismatches)
