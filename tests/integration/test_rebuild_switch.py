"""A rebuild's switch of views gives way to reads instead of deadlocking with them."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from timetracker.http.settings import Settings
from timetracker.projections.engine import tracking
from timetracker.projections.engine.rebuild import _prepare, _switch
from timetracker.projections.engine.runner import create_schema
from timetracker.projections.registry import all_projections
from timetracker.projections.time_travel import TimeTravelProjection

pytestmark = pytest.mark.integration


def _view_schema(conn: psycopg.Connection, view: str) -> str:
    row = conn.execute(
        "SELECT table_schema FROM information_schema.view_table_usage WHERE view_name = %s",
        (view,),
    ).fetchone()
    assert row is not None
    return str(row[0])


def test_the_switch_waits_briefly_for_a_read_holding_a_view_then_tries_again(
    settings: Settings,
) -> None:
    projection = TimeTravelProjection()  # three tables: a read may join two of its views
    create_schema(settings.conninfo, [projection])
    old_schema, new_schema = _prepare(settings.conninfo, projection)
    with psycopg.connect(settings.conninfo) as reader:
        # A read in progress on one view (its transaction holds the view's lock).
        reader.execute("SELECT * FROM public.entry_versions LIMIT 0")

        assert _switch(settings.conninfo, projection, new_schema) is False

        # The read was not cancelled, and nothing changed: views and tracking as they were.
        reader.execute("SELECT * FROM public.project_name_versions LIMIT 0")
        reader.rollback()
        assert _view_schema(reader, "entry_versions") == old_schema
    assert _switch(settings.conninfo, projection, new_schema) is True
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        for view in projection.tables:
            assert _view_schema(conn, view) == new_schema
        row = tracking.read_row(conn.cursor(), projection.name)
        assert row is not None and row[1] == new_schema


def _in_a_thread(work: Callable[[], object], within: float) -> bool:
    """True if `work()` finished within `within` seconds."""
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(within)


def test_setting_up_the_schema_again_leaves_views_that_point_right_alone(
    settings: Settings,
) -> None:
    """Every CLI command sets the schema up; re-pointing every view took an ACCESS
    EXCLUSIVE lock on each, which deadlocked with a read joining two views (a 503)."""
    projections = all_projections()
    create_schema(settings.conninfo, projections)
    with psycopg.connect(settings.conninfo) as reader, reader.transaction():
        reader.execute("SELECT count(*) FROM projects p LEFT JOIN clients c ON c.id = p.client_id")
        assert _in_a_thread(lambda: create_schema(settings.conninfo, projections), within=10)


def test_setting_up_the_schema_again_takes_no_lock_a_runners_batch_holds(
    settings: Settings,
) -> None:
    """An import's dry run sets the schema up beside the runners: `CREATE INDEX IF NOT
    EXISTS` took a SHARE lock on each table, one after another, and deadlocked with a batch
    writing the same tables in another order (a 503 during an import job)."""
    projections = all_projections()
    create_schema(settings.conninfo, projections)
    tables = [table for projection in projections for table in projection.tables]
    with psycopg.connect(settings.conninfo) as batch, batch.transaction():
        for table in tables:  # what a batch in progress holds on every table it writes
            batch.execute(
                sql.SQL("LOCK TABLE {} IN ROW EXCLUSIVE MODE").format(sql.Identifier(table))
            )
        impatient = make_conninfo(settings.conninfo, options="-c lock_timeout=2000")
        create_schema(impatient, projections)  # LockNotAvailable if it waits for the batch
