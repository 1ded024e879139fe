"""The User aggregate after registration: password, role, deactivation."""

from __future__ import annotations

import pytest

from tests.unit.domain.replay import replay, state
from tests.unit.domain.stamps import ACTOR, stamp
from timetracker.domain.errors import InvalidValueError, UserDeactivatedError
from timetracker.domain.user import User

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def _user(role: str = "user") -> User:
    user = User.register(3, "alice", None, None, role, stamp())
    user.collect_events()
    return user


def test_setting_a_password_records_only_its_argon2id_hash() -> None:
    user = _user()
    user.set_password(HASH, stamp(request_id="req-pw"))
    [event] = user.collect_events()
    assert isinstance(event, User.PasswordSet)
    assert event.password_hash == HASH
    assert (event.actor, event.request_id) == (ACTOR, "req-pw")
    assert user.password_hash == HASH


def test_anything_but_an_argon2id_hash_is_refused() -> None:
    user = _user()
    for not_a_hash in ("correct horse battery staple", "$argon2i$v=19$m=1,t=1,p=1$x$y"):
        with pytest.raises(InvalidValueError) as caught:
            user.set_password(not_a_hash, stamp())
        assert caught.value.field == "password"
    assert user.collect_events() == []


def test_changing_the_role_records_role_changed_and_nothing_when_it_is_the_same() -> None:
    user = _user()
    assert user.change_role("admin", stamp()) is True
    [event] = user.collect_events()
    assert isinstance(event, User.RoleChanged)
    assert (event.role, user.role, user.is_admin) == ("admin", "admin", True)
    assert user.change_role("admin", stamp()) is False
    assert user.collect_events() == []
    with pytest.raises(InvalidValueError):
        user.change_role("owner", stamp())


def test_a_deactivated_user_gets_no_password_role_or_second_deactivation() -> None:
    user = _user()
    user.deactivate(stamp())
    [event] = user.collect_events()
    assert isinstance(event, User.Deactivated)
    assert user.is_active is False
    with pytest.raises(UserDeactivatedError):
        user.deactivate(stamp())
    with pytest.raises(UserDeactivatedError):
        user.set_password(HASH, stamp())
    with pytest.raises(UserDeactivatedError):
        user.change_role("admin", stamp())


def test_the_changes_replay_from_the_stored_events() -> None:
    user = User.register(3, "alice", None, None, "user", stamp())
    user.set_password(HASH, stamp())
    user.change_role("admin", stamp())
    user.deactivate(stamp())
    assert state(replay(user.collect_events())) == state(user)
