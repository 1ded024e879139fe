"""The time-entries read model: rows per event, and a batch folded before its COPY."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.domain.stamps import T0, stamp
from tests.unit.projections.events import USER, entry, events_of, project
from timetracker.domain.values import aggregate_id
from timetracker.projections import time_entries
from timetracker.projections.bodies import refresh_row
from timetracker.projections.rows import Delete, Insert, Update
from timetracker.projections.time_entries import TimeEntriesProjection

ENTRY = aggregate_id("time_entry", 1)
START = T0 - timedelta(hours=3)


def test_a_created_entry_is_a_row_with_its_duration() -> None:
    [created] = events_of(entry(notes="inbox", tags="a, b"))

    [insert, refresh] = TimeEntriesProjection().changes(created)

    assert refresh == refresh_row("time_entries", time_entries.BODY, ENTRY)
    assert insert == Insert(
        "time_entries",
        {
            "id": 1,
            "aggregate_id": ENTRY,
            "user_id": USER,
            "project_id": 5,
            "task_id": None,
            "start_time": START,
            "end_time": START + timedelta(hours=1),
            "duration_seconds": 3600,
            "notes": "inbox",
            "tags": "a,b",
            "billable": True,
            "source": "api",
            "created_at": T0,
            "updated_at": T0,
            "version": 1,
        },
    )


def test_an_edit_updates_the_changed_columns_and_a_delete_removes_the_row() -> None:
    made = entry()
    made.collect_events()
    made.edit({"end_time": START + timedelta(hours=2)}, project(), None, stamp(1))
    made.delete(stamp(2))
    edited, deleted = events_of(made)
    projection = TimeEntriesProjection()

    assert projection.changes(edited) == [
        Update(
            "time_entries",
            ENTRY,
            {
                "end_time": START + timedelta(hours=2),
                "duration_seconds": 7200,
                "updated_at": stamp(1).at,
                "version": 2,
            },
        ),
        refresh_row("time_entries", time_entries.BODY, ENTRY),
    ]
    assert projection.changes(deleted) == [Delete("time_entries", ENTRY)]


def test_a_restored_entry_comes_back_with_its_first_creation_time() -> None:
    made = entry()
    made.collect_events()
    made.delete(stamp(1))
    made.restore(project(), stamp(2))
    _, restored = events_of(made)

    [insert, _] = TimeEntriesProjection().changes(restored)

    assert isinstance(insert, Insert)
    assert insert.row["created_at"] == T0 and insert.row["updated_at"] == stamp(2).at
    assert insert.row["version"] == 3


def test_a_batch_inserts_its_new_entries_once_in_their_final_state() -> None:
    edited_in_batch = entry(1)
    edited_in_batch.edit({"notes": "later"}, project(), None, stamp(1))
    gone_in_batch = entry(2)
    gone_in_batch.delete(stamp(1))
    older = entry(3)
    older.collect_events()
    older.edit({"billable": False}, project(), None, stamp(2))
    batch = events_of(edited_in_batch) + events_of(gone_in_batch) + events_of(older)

    changes, new_rows = TimeEntriesProjection().batch_changes(batch)

    assert changes == [
        Update(
            "time_entries",
            aggregate_id("time_entry", 3),
            {"billable": False, "updated_at": stamp(2).at, "version": 2},
        ),
        refresh_row("time_entries", time_entries.BODY, aggregate_id("time_entry", 3)),
    ]
    [row] = new_rows
    assert row[0] == 1  # id
    assert "later" in row and row[-1] == 2  # notes, version
