"""The imported-entries read model's pure part: which events add a key."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.domain.stamps import ACTOR, T0, stamp
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.projections.imported_entries import ImportedEntriesProjection


def _created(external_key: str | None, source: str) -> Entry.Created:
    project = Project.create(3, {"name": "Web"}, stamp())
    values = {"start_time": T0, "end_time": T0 + timedelta(hours=1)}
    entry = Entry.create(5, ACTOR["user_id"], project, None, values, source, stamp(), external_key)
    event = entry.collect_events()[0]
    assert isinstance(event, Entry.Created)
    return event


def test_an_imported_entry_adds_its_key_and_others_add_nothing() -> None:
    row_of = ImportedEntriesProjection.row_of
    assert row_of(_created("id:7", "import:timetracker")) == ("import:timetracker", "id:7", 5)
    assert row_of(_created(None, "api")) is None
