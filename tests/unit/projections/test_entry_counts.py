"""The entry counts: what a batch adds to each (user, project, billable, finished) count."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.domain.stamps import T0, stamp
from tests.unit.projections.events import USER, entry, events_of, project
from timetracker.domain.values import aggregate_id
from timetracker.projections import entry_counts

ENTRY = aggregate_id("time_entry", 1)


def test_created_entries_add_to_their_keys_and_running_ones_are_not_finished() -> None:
    events = [
        *events_of(entry(1)),
        *events_of(entry(2, billable=False)),
        *events_of(entry(3, end_time=None)),
        *events_of(entry(4)),
    ]

    assert entry_counts.count_changes({}, events) == {
        (USER, 5, True, True): 2,
        (USER, 5, False, True): 1,
        (USER, 5, True, False): 1,
    }


def test_an_edit_moves_an_existing_entry_from_its_old_key_to_its_new_one() -> None:
    made = entry(end_time=None)
    made.collect_events()
    made.edit({"billable": False}, project(6, "Other"), None, stamp(1))
    made.stop(stamp(2))
    events = events_of(made)

    assert entry_counts.ids_to_read(events) == [ENTRY]
    changed = entry_counts.count_changes({ENTRY: (USER, 5, True, False)}, events)

    assert changed == {(USER, 5, True, False): -1, (USER, 6, False, True): 1}


def test_an_entry_created_and_deleted_in_one_batch_adds_nothing() -> None:
    made = entry()
    made.delete(stamp(1))
    events = events_of(made)

    assert entry_counts.ids_to_read(events) == []
    assert entry_counts.count_changes({}, events) == {}


def test_a_deleted_entry_is_taken_away_and_a_restored_one_comes_back() -> None:
    made = entry()
    made.collect_events()
    made.delete(stamp(1))
    [deleted] = events_of(made)
    made.restore(project(), stamp(2))
    [restored] = events_of(made)
    before = {ENTRY: (USER, 5, True, True)}

    assert entry_counts.count_changes(before, [deleted]) == {(USER, 5, True, True): -1}
    assert entry_counts.count_changes(before, [deleted, restored]) == {}
    assert entry_counts.count_changes({}, [restored]) == {(USER, 5, True, True): 1}


def test_an_edit_of_an_entry_without_a_row_changes_no_count() -> None:
    made = entry()
    made.collect_events()
    made.edit({"notes": "later"}, project(), None, stamp(1))

    assert entry_counts.count_changes({}, events_of(made)) == {}


def test_the_count_statement_names_only_the_filters_set() -> None:
    statement = entry_counts.count_statement(True, False, True, False)

    assert "user_id = %(user_id)s" in statement
    assert "billable = %(billable)s" in statement
    assert "project_id" not in statement
    assert statement.endswith("AND finished")
    assert "WHERE" not in entry_counts.count_statement(False, False, False, True)


def test_a_restored_entry_keeps_its_time() -> None:
    # The restored event carries the whole state: a restore of an ended entry is finished.
    made = entry(hours_ago=5, hours=2)
    made.collect_events()
    made.delete(stamp(1))
    made.restore(project(), stamp(2))
    restored = events_of(made)[-1]

    assert entry_counts.event_key(restored) == (USER, 5, True, True)
    assert restored.fields["end_time"] == T0 - timedelta(hours=3)
