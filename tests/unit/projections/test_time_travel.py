"""The time-travel read model: the log's clock, entry versions and project names, pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.unit.domain.stamps import T0, stamp
from tests.unit.projections.events import USER, entry, events_of, project
from timetracker.domain.project import Project
from timetracker.domain.values import aggregate_id
from timetracker.projections.time_travel import (
    EntryVersion,
    NameVersion,
    clock_rows,
    entries_to_look_up,
    fold_entry_versions,
    name_versions,
)

ENTRY = aggregate_id("time_entry", 1)
START = T0 - timedelta(hours=3)


def test_the_clock_keeps_the_latest_time_recorded_up_to_each_position() -> None:
    late = entry(1)
    early = entry(2)
    [late_event] = events_of(late)
    [early_event] = events_of(early)
    early_event = replace(early_event, timestamp=T0 - timedelta(minutes=1))  # type: ignore[type-var]

    rows = clock_rows(None, [late_event, early_event], [10, 11])

    assert rows == [(10, T0, T0), (11, T0 - timedelta(minutes=1), T0)]
    assert clock_rows(T0 + timedelta(hours=1), [late_event], [12]) == [
        (12, T0, T0 + timedelta(hours=1))
    ]


def test_an_entry_created_and_edited_in_one_batch_is_two_versions_the_first_closed() -> None:
    made = entry(hours=1)
    made.edit({"end_time": START + timedelta(hours=2)}, project(), None, stamp(1))
    made.edit({"notes": "no change to reports"}, project(), None, stamp(2))
    batch = events_of(made)

    assert entries_to_look_up(batch) == set()
    closed, new = fold_entry_versions(batch, [20, 21, 22], {})

    first = EntryVersion(ENTRY, 1, 20, USER, 5, START.date(), 3600, True, valid_to=21)
    assert closed == []
    assert new == [first, replace(first, valid_from=21, valid_to=None, seconds=7200)]


def test_a_stored_open_version_is_closed_and_a_deleted_entry_gets_no_new_one() -> None:
    made = entry()
    made.collect_events()
    made.delete(stamp(1))
    batch = events_of(made)
    stored = EntryVersion(ENTRY, 1, 20, USER, 5, START.date(), 3600, True, stored=True)

    assert entries_to_look_up(batch) == {ENTRY}
    closed, new = fold_entry_versions(batch, [30], {ENTRY: stored})

    assert closed == [replace(stored, valid_to=30)]
    assert new == []


def test_project_names_are_versioned_from_the_position_that_named_them() -> None:
    made = Project.create(5, {"name": "Website"}, stamp())
    made.update({"name": "Web site"}, stamp(1))
    made.update({"billable": False}, stamp(2))
    batch = events_of(made)

    assert name_versions(batch, [40, 41, 42]) == [
        NameVersion(aggregate_id("project", 5), "Website", 40, 5),
        NameVersion(aggregate_id("project", 5), "Web site", 41, None, renames=True),
    ]
