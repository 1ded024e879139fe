"""The Project aggregate: create, update, archive and bring back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.domain.replay import replay, state
from tests.unit.domain.stamps import ACTOR, T0, assert_stamped, stamp
from timetracker.domain.errors import AlreadyArchivedError, InvalidValueError
from timetracker.domain.project import Project
from timetracker.domain.values import aggregate_id


def created(**values: Any) -> Project:
    project = Project.create(5, {"name": "Website", **values}, stamp(request_id="req-create"))
    project.collect_events()
    return project


def archived() -> Project:
    project = created()
    project.archive(stamp(1))
    project.collect_events()
    return project


def test_creating_a_project_records_every_field_with_defaults() -> None:
    project = Project.create(
        5,
        {"name": " Website ", "client_id": 2, "hourly_rate": Decimal("75.50")},
        stamp(request_id="req-create"),
    )
    [event] = project.pending_events
    assert isinstance(event, Project.Created)
    assert event.originator_id == aggregate_id("project", 5)
    assert event.number == 5
    assert event.fields == {
        "name": "Website",
        "description": None,
        "client_id": 2,
        "hourly_rate": Decimal("75.50"),
        "estimated_hours": None,
        "billable": True,
        "status": "active",
    }
    assert (event.actor, event.request_id, event.timestamp) == (ACTOR, "req-create", T0)
    assert project.current() == event.fields
    assert project.archived_at is None


def test_a_project_may_start_on_hold() -> None:
    assert created(status="on_hold").status == "on_hold"


def test_a_project_without_a_name_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        Project.create(1, {"description": "no name"}, stamp())
    assert caught.value.field == "name"


def test_a_new_project_cannot_be_archived() -> None:
    with pytest.raises(InvalidValueError) as caught:
        Project.create(1, {"name": "Website", "status": "archived"}, stamp())
    assert caught.value.field == "status"


@pytest.mark.parametrize("name", ["", "   ", "p" * 201])
def test_a_project_name_must_have_1_to_200_characters(name: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        Project.create(1, {"name": name}, stamp())
    assert caught.value.field == "name"


@pytest.mark.parametrize("field", ["hourly_rate", "estimated_hours"])
@pytest.mark.parametrize("amount", ["-0.5", "NaN", "-Infinity"])
def test_negative_or_non_finite_amounts_are_refused(field: str, amount: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        Project.create(1, {"name": "Website", field: Decimal(amount)}, stamp())
    assert caught.value.field == field


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        Project.create(1, {"name": "Website", "status": "done"}, stamp())
    assert caught.value.field == "status"


def test_billable_must_be_a_boolean() -> None:
    with pytest.raises(InvalidValueError) as caught:
        Project.create(1, {"name": "Website", "billable": "yes"}, stamp())
    assert caught.value.field == "billable"


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        Project.create(1, {"name": "Website", "archived_at": T0}, stamp())
    assert (caught.value.field, caught.value.message) == ("archived_at", "Unknown field.")


def test_an_update_records_only_the_changed_fields_with_from_and_to() -> None:
    project = created(hourly_rate=Decimal("75"))
    changes = project.update(
        {"hourly_rate": Decimal("90"), "billable": True, "description": "New site"},
        stamp(1, request_id="req-update"),
    )
    expected = {
        "hourly_rate": {"from": Decimal("75"), "to": Decimal("90")},
        "description": {"from": None, "to": "New site"},
    }
    assert changes == expected
    [event] = project.pending_events
    assert isinstance(event, Project.Updated)
    assert event.changes == expected
    assert_stamped([event], stamp(1, request_id="req-update"))
    assert (project.hourly_rate, project.description) == (Decimal("90"), "New site")
    assert project.version == 2


def test_an_update_that_changes_nothing_records_nothing() -> None:
    project = created()
    assert project.update({"name": "Website", "billable": True, "status": "active"}, stamp()) == {}
    assert project.pending_events == []


def test_an_update_with_an_unknown_field_records_nothing() -> None:
    project = created()
    with pytest.raises(InvalidValueError) as caught:
        project.update({"description": "x", "owner": 1}, stamp())
    assert caught.value.field == "owner"
    assert project.pending_events == []
    assert project.description is None


def test_putting_a_project_on_hold_is_an_update() -> None:
    project = created()
    assert project.update({"status": "on_hold"}, stamp(1)) == {
        "status": {"from": "active", "to": "on_hold"}
    }
    [event] = project.pending_events
    assert isinstance(event, Project.Updated)
    assert project.archived_at is None


def test_setting_status_archived_with_other_changes_records_updated_then_archived() -> None:
    project = created(status="on_hold")
    changes = project.update(
        {"estimated_hours": Decimal("10"), "status": "archived"}, stamp(2, request_id="req-a")
    )
    assert changes == {
        "estimated_hours": {"from": None, "to": Decimal("10")},
        "status": {"from": "on_hold", "to": "archived"},
    }
    updated, archived_event = project.pending_events
    assert isinstance(updated, Project.Updated)
    assert updated.changes == {"estimated_hours": {"from": None, "to": Decimal("10")}}
    assert isinstance(archived_event, Project.Archived)
    assert_stamped(project.pending_events, stamp(2, request_id="req-a"))
    assert project.status == "archived"
    assert project.archived_at == T0 + timedelta(minutes=2)


def test_setting_only_status_archived_records_only_archived() -> None:
    project = created()
    project.update({"status": "archived"}, stamp(2))
    [event] = project.pending_events
    assert isinstance(event, Project.Archived)


def test_archiving_a_project_records_when() -> None:
    project = created()
    project.archive(stamp(3, request_id="req-archive"))
    [event] = project.pending_events
    assert isinstance(event, Project.Archived)
    assert event.originator_version == 2
    assert_stamped([event], stamp(3, request_id="req-archive"))
    assert project.is_archived is True
    assert project.archived_at == T0 + timedelta(minutes=3)


def test_an_archived_project_cannot_be_archived_again() -> None:
    project = archived()
    with pytest.raises(AlreadyArchivedError) as caught:
        project.archive(stamp(4))
    assert str(caught.value) == "Project 5 is archived already."
    assert project.pending_events == []
    assert project.archived_at == T0 + timedelta(minutes=1)


def test_setting_status_archived_on_an_archived_project_records_nothing() -> None:
    project = archived()
    assert project.update({"status": "archived"}, stamp(4)) == {}
    assert project.pending_events == []


@pytest.mark.parametrize("status", ["active", "on_hold"])
def test_an_update_of_the_status_brings_an_archived_project_back(status: str) -> None:
    project = archived()
    changes = project.update({"status": status}, stamp(4, request_id="req-back"))
    assert changes == {"status": {"from": "archived", "to": status}}
    [event] = project.pending_events
    assert isinstance(event, Project.Updated)
    assert_stamped([event], stamp(4, request_id="req-back"))
    assert project.status == status
    assert project.archived_at is None


def test_replaying_the_events_rebuilds_an_equal_project() -> None:
    project = Project.create(5, {"name": "Website", "hourly_rate": Decimal("75.25")}, stamp())
    project.update({"name": "Site", "status": "archived"}, stamp())
    project.update({"status": "on_hold", "billable": False}, stamp())
    project.archive(stamp())
    events = project.collect_events()
    assert len(events) == 5
    assert_stamped(events, stamp())
    rebuilt = replay(events)
    assert state(rebuilt) == state(project)
    assert rebuilt.archived_at == T0
