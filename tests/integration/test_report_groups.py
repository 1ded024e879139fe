"""The report-groups read model on PostgreSQL: built in small batches by a live runner, it
equals a rebuild from the log (whole batches), and `projections verify` finds it sound."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from eventsourcing.domain import Aggregate
from psycopg import sql

from tests.integration.history import build_catalogue, save_in_chunks
from timetracker.commands.application import TimeTracking
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.user import User
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.projections.engine.rebuild import rebuild
from timetracker.projections.engine.runner import ProjectionRunner, create_schema
from timetracker.projections.engine.verify import verify
from timetracker.projections.report_groups import ReportGroupsProjection

pytestmark = pytest.mark.integration
T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def _stamp(i: int) -> Stamp:
    return Stamp(at=T0 + timedelta(minutes=i), user_id=1, request_id=f"r{i}", is_admin=True)


def dump(conninfo: str, projection: ReportGroupsProjection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the read model's tables, in a fixed order."""
    with psycopg.connect(conninfo) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT * FROM {} t ORDER BY t::text").format(sql.Identifier(table))
            ).fetchall()
            for table in projection.tables
        }


def _history(store: TimeTracking) -> None:
    """Entries created, edited (times, project, tags, billable), deleted and restored; a
    project's rate and a user's time zone changed along the way; then entries edited and
    deleted again after another rate changed (what they take away from their day sums is
    priced at the rate in force)."""
    build_catalogue(store, projects=9, clients=4, users=3)
    rng = random.Random(17)
    projects = [store.load(Project, "project", n) for n in range(1, 10)]
    open_projects = [p for p in projects if not p.is_archived]
    made: list[Aggregate] = []
    for n in range(1, 61):
        start = T0 + timedelta(hours=rng.randrange(24 * 20))
        entry = Entry.create(
            n,
            rng.randrange(1, 4),
            rng.choice(open_projects),
            None,
            {
                "start_time": start,
                "end_time": start + timedelta(minutes=rng.randrange(1, 300)),
                "tags": rng.choice([None, "a", "a,b"]),
                "billable": rng.random() < 0.5,
            },
            "api",
            _stamp(n),
        )
        if n % 3 == 0:
            entry.edit(
                {"end_time": start + timedelta(hours=5), "tags": "c"},
                rng.choice(open_projects),
                None,
                _stamp(n + 1),
            )
        if n % 7 == 0:
            entry.delete(_stamp(n + 2))
            if n % 14 == 0:
                entry.restore(
                    projects[0] if not projects[0].is_archived else open_projects[0], _stamp(n + 3)
                )
        made.append(entry)
    save_in_chunks(store, made)
    project = store.load(Project, "project", 1)
    project.update({"hourly_rate": None}, _stamp(99))
    user = store.load(User, "user", 2)
    user.set_timezone("Asia/Kolkata", _stamp(100))
    store.save(project, user)

    repriced = store.load(Project, "project", 2)
    repriced.update({"hourly_rate": Decimal("87.35")}, _stamp(101))
    store.save(repriced)
    target = repriced if not repriced.is_archived else open_projects[0]
    later: list[Aggregate] = []
    for n, entry in enumerate(made, start=1):
        if entry.deleted:
            continue
        if n % 5 == 0:
            start = entry.start_time
            entry.edit(
                {"end_time": start + timedelta(minutes=47 + n), "billable": n % 2 == 0},
                target,
                None,
                _stamp(102 + n),
            )
            later.append(entry)
        elif n % 11 == 0:
            entry.delete(_stamp(102 + n))
            later.append(entry)
    save_in_chunks(store, later)


def test_built_in_small_batches_it_equals_a_rebuild_and_verifies(
    store: TimeTracking, settings: Settings
) -> None:
    projection = ReportGroupsProjection()
    create_schema(settings.conninfo, [projection])
    _history(store)
    runner = ProjectionRunner(store, projection, settings.conninfo)
    runner.batch_size = 7  # versions closed across batch boundaries
    try:
        runner.catch_up()
    finally:
        runner.close()
    live = dump(settings.conninfo, projection)
    assert len(live["report_entries"]) > 60  # edits and deletes left closed versions
    assert any(row[2] is not None for row in live["report_labels"])  # closed label versions

    _day_sums_match_the_entries(settings.conninfo)

    rebuild(store, projection, settings.conninfo)

    assert dump(settings.conninfo, projection) == live
    checked = verify(store, projection, settings.conninfo)
    assert checked.ok, checked.mismatches


def _day_sums_match_the_entries(conninfo: str) -> None:
    """Each grain of each zone's day sums equals the current entries summed directly."""
    cents = (
        "CASE WHEN e.billable THEN round(e.seconds * coalesce(p.rate, c.rate, 0) / 36.0) ELSE 0 END"
    )
    with psycopg.connect(conninfo) as conn:
        zones = [z for (z,) in conn.execute("SELECT zone FROM report_zones ORDER BY zone")]
        assert zones == ["Asia/Kolkata"]
        zones.append("UTC")  # always summed by day
        for zone in zones:
            for grain, user, project in (
                ("upd", "e.user_id", "e.project_id"),
                ("pd", "0", "e.project_id"),
                ("ud", "e.user_id", "0"),
            ):
                direct = conn.execute(
                    f"SELECT {user}, {project}, (e.start_time AT TIME ZONE %s)::date,"
                    " sum(e.seconds), coalesce(sum(e.seconds) FILTER (WHERE e.billable), 0),"
                    f" count(*), sum({cents}) FROM report_entries e"
                    " LEFT JOIN report_labels p ON p.kind = 'project' AND p.id = e.project_id"
                    " AND p.valid_to IS NULL LEFT JOIN report_labels c ON c.kind = 'client'"
                    " AND c.id = p.client_id AND c.valid_to IS NULL"
                    " WHERE e.valid_to IS NULL AND e.seconds IS NOT NULL"
                    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                    (zone,),
                ).fetchall()
                kept = conn.execute(
                    "SELECT user_id, project_id, day, seconds, billable_seconds, entries, cents"
                    " FROM report_day_sums WHERE zone = %s AND grain = %s ORDER BY 1, 2, 3",
                    (zone, grain),
                ).fetchall()
                assert kept == direct, (zone, grain)
