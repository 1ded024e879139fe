"""The Client aggregate: create, update, archive."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.unit.domain.replay import replay, state
from tests.unit.domain.stamps import ACTOR, T0, assert_stamped, stamp
from timetracker.domain.client import Client
from timetracker.domain.errors import AlreadyArchivedError, InvalidValueError
from timetracker.domain.values import aggregate_id


def created(**values: Any) -> Client:
    client = Client.create(3, {"name": "Acme", **values}, stamp(request_id="req-create"))
    client.collect_events()
    return client


def archived() -> Client:
    client = created()
    client.archive(stamp(1))
    client.collect_events()
    return client


def test_creating_a_client_records_every_field() -> None:
    client = Client.create(
        3,
        {"name": "  Acme  ", "email": "billing@acme.test", "default_hourly_rate": Decimal("80")},
        stamp(request_id="req-create"),
    )
    [event] = client.pending_events
    assert isinstance(event, Client.Created)
    assert event.originator_id == aggregate_id("client", 3)
    assert event.number == 3
    assert event.fields == {
        "name": "Acme",
        "email": "billing@acme.test",
        "company": None,
        "phone": None,
        "contact_person": None,
        "address": None,
        "default_hourly_rate": Decimal("80"),
        "status": "active",
    }
    assert (event.actor, event.request_id, event.timestamp) == (ACTOR, "req-create", T0)
    assert client.current() == event.fields
    assert client.is_archived is False


def test_a_client_name_is_required() -> None:
    with pytest.raises(InvalidValueError) as caught:
        Client.create(1, {"name": " "}, stamp())
    assert caught.value.field == "name"


def test_a_client_without_a_name_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        Client.create(1, {"email": "billing@acme.test"}, stamp())
    assert caught.value.field == "name"


def test_a_client_name_longer_than_200_characters_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        Client.create(1, {"name": "c" * 201}, stamp())
    assert caught.value.field == "name"


@pytest.mark.parametrize("rate", ["-1", "NaN", "Infinity"])
def test_a_negative_or_non_finite_rate_is_refused(rate: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        Client.create(1, {"name": "Acme", "default_hourly_rate": Decimal(rate)}, stamp())
    assert caught.value.field == "default_hourly_rate"


def test_a_rate_of_zero_is_accepted() -> None:
    assert created(default_hourly_rate=Decimal(0)).default_hourly_rate == Decimal(0)


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        Client.create(1, {"name": "Acme", "vat_id": "X"}, stamp())
    assert (caught.value.field, caught.value.message) == ("vat_id", "Unknown field.")


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        Client.create(1, {"name": "Acme", "status": "on_hold"}, stamp())
    assert caught.value.field == "status"


def test_a_new_client_cannot_be_archived() -> None:
    with pytest.raises(InvalidValueError) as caught:
        Client.create(1, {"name": "Acme", "status": "archived"}, stamp())
    assert (caught.value.field, caught.value.message) == ("status", "A new client is active.")


def test_an_update_records_only_the_changed_fields_with_from_and_to() -> None:
    client = created(email="old@acme.test", phone="123")
    changes = client.update(
        {"name": "Acme Ltd", "email": "old@acme.test", "phone": "456"},
        stamp(1, request_id="req-update"),
    )
    expected = {"name": {"from": "Acme", "to": "Acme Ltd"}, "phone": {"from": "123", "to": "456"}}
    assert changes == expected
    [event] = client.pending_events
    assert isinstance(event, Client.Updated)
    assert event.changes == expected
    assert event.originator_version == 2
    assert_stamped([event], stamp(1, request_id="req-update"))
    assert (client.name, client.email, client.phone) == ("Acme Ltd", "old@acme.test", "456")


def test_an_update_that_changes_nothing_records_nothing() -> None:
    client = created(default_hourly_rate=Decimal("80"))
    assert client.update({"name": " Acme ", "default_hourly_rate": Decimal("80.00")}, stamp()) == {}
    assert client.pending_events == []
    assert client.version == 1


def test_an_update_with_an_unknown_field_records_nothing() -> None:
    client = created()
    with pytest.raises(InvalidValueError) as caught:
        client.update({"name": "Other", "id": 5}, stamp())
    assert caught.value.field == "id"
    assert client.pending_events == []
    assert client.name == "Acme"


def test_an_update_with_an_invalid_value_records_nothing() -> None:
    client = created()
    with pytest.raises(InvalidValueError):
        client.update({"email": "x@acme.test", "default_hourly_rate": Decimal(-5)}, stamp())
    assert client.pending_events == []
    assert client.email is None


def test_setting_status_archived_with_other_changes_records_updated_then_archived() -> None:
    client = created()
    changes = client.update(
        {"name": "Acme Old", "status": "archived"}, stamp(2, request_id="req-archive")
    )
    assert changes == {
        "name": {"from": "Acme", "to": "Acme Old"},
        "status": {"from": "active", "to": "archived"},
    }
    updated, archived_event = client.pending_events
    assert isinstance(updated, Client.Updated)
    assert updated.changes == {"name": {"from": "Acme", "to": "Acme Old"}}
    assert isinstance(archived_event, Client.Archived)
    assert (updated.originator_version, archived_event.originator_version) == (2, 3)
    assert_stamped(client.pending_events, stamp(2, request_id="req-archive"))
    assert client.is_archived is True
    assert client.status == "archived"


def test_setting_only_status_archived_records_only_archived() -> None:
    client = created()
    changes = client.update({"status": "archived"}, stamp(2))
    assert changes == {"status": {"from": "active", "to": "archived"}}
    [event] = client.pending_events
    assert isinstance(event, Client.Archived)
    assert client.is_archived is True


def test_setting_status_archived_on_an_archived_client_records_nothing() -> None:
    client = archived()
    assert client.update({"status": "archived"}, stamp(3)) == {}
    assert client.pending_events == []


def test_setting_status_active_on_an_archived_client_brings_it_back() -> None:
    client = archived()
    changes = client.update({"status": "active"}, stamp(3, request_id="req-back"))
    assert changes == {"status": {"from": "archived", "to": "active"}}
    [event] = client.pending_events
    assert isinstance(event, Client.Updated)
    assert event.changes == changes
    assert_stamped([event], stamp(3, request_id="req-back"))
    assert client.is_archived is False


def test_archiving_a_client_records_client_archived() -> None:
    client = created()
    client.archive(stamp(4, request_id="req-archive"))
    [event] = client.pending_events
    assert isinstance(event, Client.Archived)
    assert event.originator_version == 2
    assert_stamped([event], stamp(4, request_id="req-archive"))
    assert client.status == "archived"
    assert client.modified_on == stamp(4).at


def test_an_archived_client_cannot_be_archived_again() -> None:
    client = archived()
    with pytest.raises(AlreadyArchivedError) as caught:
        client.archive(stamp(5))
    assert str(caught.value) == "Client 3 is archived already."
    assert client.pending_events == []


def test_replaying_the_events_rebuilds_an_equal_client() -> None:
    client = Client.create(3, {"name": "Acme", "default_hourly_rate": Decimal("80.50")}, stamp())
    client.update({"email": "a@acme.test", "status": "archived"}, stamp())
    client.update({"status": "active", "default_hourly_rate": None}, stamp())
    events = client.collect_events()
    assert len(events) == 4
    assert_stamped(events, stamp())
    assert state(replay(events)) == state(client)
