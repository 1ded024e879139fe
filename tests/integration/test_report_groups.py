"""The report-groups read model on PostgreSQL: built in small batches by a live runner, it
equals a rebuild from the log (whole batches), and `projections verify` finds it sound."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.domain import Aggregate

from tests.integration.history import build_catalogue, dump, save_in_chunks
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


def _history(store: TimeTracking) -> None:
    """Entries created, edited (times, project, tags, billable), deleted and restored; a
    project's rate and a user's time zone changed along the way."""
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
    live = dump(settings.conninfo, [projection])
    assert len(live["report_entries"]) > 60  # edits and deletes left closed versions
    assert any(row[2] is not None for row in live["report_labels"])  # closed label versions

    rebuild(store, projection, settings.conninfo)

    assert dump(settings.conninfo, [projection]) == live
    checked = verify(store, projection, settings.conninfo)
    assert checked.ok, checked.mismatches
