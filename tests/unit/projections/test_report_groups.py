"""The report-groups read model's pure part: what each event does to an aggregate's facts,
and a batch's versions (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.unit.domain.stamps import stamp
from timetracker.domain.client import Client
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.task import Task
from timetracker.domain.user import User
from timetracker.projections.report_groups import EntryFacts, LabelFacts, apply, fold

START = datetime(2024, 3, 31, 0, 30, tzinfo=UTC)


def _project(**values: Any) -> Project:
    return Project.create(3, {"name": "Site", **values}, stamp())


def _entry(project: Project, **values: Any) -> Entry:
    fields = {"start_time": START, "end_time": START + timedelta(hours=1), **values}
    return Entry.create(9, 7, project, None, fields, "api", stamp())


def test_a_created_entry_brings_its_grouping_facts() -> None:
    entry = _entry(_project(), tags="a, b,a", notes="n")
    change = apply(entry.pending_events[0], None)
    assert change is not None
    facts = change.facts
    assert isinstance(facts, EntryFacts)
    assert (facts.entry_id, facts.user_id, facts.project_id, facts.task_id) == (9, 7, 3, None)
    assert facts.tags == ("a", "b") and facts.notes == "n" and facts.billable is True
    assert facts.seconds == 3600


def test_an_edit_changes_only_what_it_names_and_a_delete_ends_the_entry() -> None:
    project = _project()
    entry = _entry(project)
    created = apply(entry.pending_events[0], None)
    assert created is not None
    entry.edit({"end_time": START + timedelta(hours=2), "tags": "x"}, project, None, stamp())
    edited = apply(entry.pending_events[-1], created.facts)
    assert edited is not None and isinstance(edited.facts, EntryFacts)
    assert edited.facts.seconds == 7200 and edited.facts.tags == ("x",)
    assert edited.facts.start_time == START
    entry.delete(stamp())
    deleted = apply(entry.pending_events[-1], edited.facts)
    assert deleted is not None and deleted.facts is None


def test_labels_carry_names_clients_rates_and_time_zones() -> None:
    client = Client.create(2, {"name": "ACME", "default_hourly_rate": Decimal("80")}, stamp())
    project = _project(client_id=2, hourly_rate=Decimal("100.5"))
    task = Task.create(5, project, {"name": "Design"}, stamp())
    user = User.register(7, "alice", None, None, "user", stamp())
    facts = [apply(a.pending_events[0], None) for a in (client, project, task, user)]
    assert [f.facts for f in facts if f is not None] == [
        LabelFacts("client", 2, "ACME", rate=Decimal("80")),
        LabelFacts("project", 3, "Site", 2, Decimal("100.5")),
        LabelFacts("task", 5, "Design"),
        LabelFacts("user", 7, "alice", timezone="UTC"),
    ]
    user.set_timezone("Europe/Berlin", stamp())
    moved = apply(user.pending_events[-1], facts[3].facts if facts[3] else None)
    assert moved is not None and isinstance(moved.facts, LabelFacts)
    assert moved.facts.timezone == "Europe/Berlin"
    project.update({"hourly_rate": None, "description": "d"}, stamp())
    rate_gone = apply(project.pending_events[-1], facts[1].facts if facts[1] else None)
    assert rate_gone is not None and isinstance(rate_gone.facts, LabelFacts)
    assert rate_gone.facts.rate is None and rate_gone.facts.client_id == 2


def test_changes_reports_do_not_show_are_no_change() -> None:
    project = _project()
    created = apply(project.pending_events[0], None)
    project.update({"description": "only this"}, stamp())
    assert apply(project.pending_events[-1], created.facts if created else None) is None
    project.archive(stamp())
    assert apply(project.pending_events[-1], created.facts if created else None) is None


def test_a_batch_closes_stored_versions_and_chains_its_own() -> None:
    project = _project()
    entry = _entry(project)
    entry.edit({"billable": False}, project, None, stamp())
    entry.edit({"notes": "later"}, project, None, stamp())
    events = entry.pending_events
    closed, new = fold(events, [10, 11, 12], {})
    assert closed == []
    assert [(v.valid_from, v.valid_to) for v in new] == [(10, 11), (11, 12), (12, None)]
    last = new[-1].facts
    assert isinstance(last, EntryFacts) and last.billable is False and last.notes == "later"
    # The next batch finds version 12 stored, closes it and opens its own.
    entry.delete(stamp())
    closed, new = fold(entry.pending_events[-1:], [20], {entry.id: (12, last)})
    assert [(v.valid_from, v.valid_to) for v in closed] == [(12, 20)]
    assert new == []
