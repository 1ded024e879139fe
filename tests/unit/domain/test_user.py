"""The User aggregate: registration."""

from __future__ import annotations

import pytest

from tests.unit.domain.replay import replay, state
from tests.unit.domain.stamps import ACTOR, assert_stamped, stamp
from timetracker.domain.errors import InvalidValueError
from timetracker.domain.user import User
from timetracker.domain.values import aggregate_id


def test_registering_a_user_records_user_registered() -> None:
    by = stamp(request_id="req-reg")
    user = User.register(4, " alice ", "a@example.com", "Alice A", "user", by)

    [registered] = user.pending_events
    assert isinstance(registered, User.Registered)
    assert registered.originator_id == aggregate_id("user", 4)
    assert registered.originator_version == 1
    assert (registered.number, registered.username, registered.email) == (
        4,
        "alice",
        "a@example.com",
    )
    assert (registered.full_name, registered.role) == ("Alice A", "user")
    assert registered.actor == ACTOR
    assert registered.request_id == "req-reg"
    assert registered.timestamp == by.at


def test_a_registered_user_is_active_and_numbered() -> None:
    user = User.register(4, "alice", None, None, "user", stamp())
    assert user.id == User.create_id(4) == aggregate_id("user", 4)
    assert (user.number, user.username, user.role) == (4, "alice", "user")
    assert user.is_active is True
    assert user.is_admin is False
    assert user.created_on == stamp().at
    assert user.version == 1


def test_an_admin_is_registered_with_the_admin_role() -> None:
    user = User.register(1, "root", None, None, "admin", stamp())
    assert user.is_admin is True


def test_a_username_is_required() -> None:
    with pytest.raises(InvalidValueError) as caught:
        User.register(1, "   ", None, None, "user", stamp())
    assert caught.value.field == "username"


def test_a_username_longer_than_200_characters_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        User.register(1, "u" * 201, None, None, "user", stamp())
    assert caught.value.field == "username"


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        User.register(1, "alice", None, None, "superuser", stamp())
    assert caught.value.field == "role"


def test_replaying_the_events_rebuilds_an_equal_user() -> None:
    user = User.register(4, "alice", "a@example.com", "Alice A", "admin", stamp())
    events = user.collect_events()
    assert_stamped(events, stamp())
    assert state(replay(events)) == state(user)
