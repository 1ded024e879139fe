"""EntryCreated version 2: an imported entry's external key, and version 1 events still load."""

from __future__ import annotations

from datetime import timedelta

from eventsourcing.application import Application

from tests.unit.domain.stamps import ACTOR, T0, stamp
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project


def _entry(external_key: str | None) -> Entry:
    project = Project.create(3, {"name": "Web"}, stamp())
    values = {"start_time": T0, "end_time": T0 + timedelta(hours=1)}
    return Entry.create(
        9, ACTOR["user_id"], project, None, values, "import:toggl", stamp(), external_key
    )


def test_an_imported_entry_keeps_its_external_key_through_the_store() -> None:
    app: Application = Application()
    entry = _entry("toggl:abc")
    app.save(entry)

    loaded: Entry = app.repository.get(entry.id)

    assert loaded.external_key == "toggl:abc"
    assert loaded.source == "import:toggl"
    stored = next(iter(app.recorder.select_events(entry.id)))
    assert b'"class_version":2' in stored.state.replace(b" ", b"")


def test_a_version_1_creation_without_an_external_key_is_upcast_and_loads() -> None:
    app: Application = Application()
    entry = _entry(None)
    app.save(entry)
    stored = next(iter(app.recorder.select_events(entry.id)))
    # What the store holds for an entry created before version 2: no key, no class_version.
    state = app.mapper.transcoder.decode(stored.state)
    del state["external_key"], state["class_version"]
    old = type(stored)(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=app.mapper.transcoder.encode(state),
    )

    event = app.mapper.to_domain_event(old)

    assert isinstance(event, Entry.Created)
    assert event.external_key is None
    rebuilt = event.mutate(None)
    assert isinstance(rebuilt, Entry)
    assert rebuilt.external_key is None
    assert rebuilt.duration_seconds == 3600
