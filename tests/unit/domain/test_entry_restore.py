"""Restoring a deleted Entry: the event carries the whole entry; the rules still hold."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.unit.domain.replay import replay, state
from tests.unit.domain.stamps import ACTOR, T0, assert_stamped, stamp
from timetracker.domain.entry import Entry
from timetracker.domain.errors import (
    EntryNotDeletedError,
    NotYourEntryError,
    ProjectIsArchivedError,
)
from timetracker.domain.project import Project

OWNER = ACTOR["user_id"]


def project() -> Project:
    made = Project.create(3, {"name": "Web"}, stamp())
    made.collect_events()
    return made


def deleted_entry(end: bool = True) -> tuple[Entry, list[Entry.Event]]:
    values = {"start_time": T0, "notes": "kept", "tags": "a,b", "billable": False}
    if end:
        values["end_time"] = T0 + timedelta(hours=2)
    entry = Entry.create(9, OWNER, project(), None, values, "timer", stamp(request_id="r1"))
    entry.delete(stamp(5, "r2"))
    return entry, list(entry.collect_events())


def test_restoring_records_the_whole_entry_and_replays_to_the_same_state() -> None:
    entry, history = deleted_entry()

    entry.restore(project(), stamp(10, "r3"))

    [event] = entry.pending_events
    assert isinstance(event, Entry.Restored)
    assert_stamped([event], stamp(10, "r3"))
    assert (event.number, event.user_id, event.source, event.created_at) == (9, OWNER, "timer", T0)
    assert event.fields == {
        "project_id": 3,
        "task_id": None,
        "start_time": T0,
        "end_time": T0 + timedelta(hours=2),
        "notes": "kept",
        "tags": "a,b",
        "billable": False,
    }
    assert entry.deleted is False
    assert entry.version == 3
    assert state(replay([*history, *entry.collect_events()])) == state(entry)


def test_only_a_deleted_entry_can_be_restored() -> None:
    entry, _ = deleted_entry()
    entry.restore(project(), stamp(10))

    with pytest.raises(EntryNotDeletedError):
        entry.restore(project(), stamp(11))


def test_restoring_onto_an_archived_project_is_refused() -> None:
    entry, _ = deleted_entry()
    archived = project()
    archived.archive(stamp(6))

    with pytest.raises(ProjectIsArchivedError):
        entry.restore(archived, stamp(10))
    assert entry.pending_events == []


def test_only_the_owner_or_an_admin_restores_an_entry() -> None:
    entry, _ = deleted_entry()
    stranger = replace(stamp(10), user_id=OWNER + 1)

    with pytest.raises(NotYourEntryError):
        entry.restore(project(), stranger)
    entry.restore(project(), replace(stranger, is_admin=True))
    assert entry.deleted is False


def test_a_restored_entry_without_an_end_is_running_again() -> None:
    entry, _ = deleted_entry(end=False)
    assert entry.is_running is False

    entry.restore(project(), stamp(10))

    assert entry.is_running is True
