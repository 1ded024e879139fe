"""The User aggregate: the time zone reports and exports use by default."""

from __future__ import annotations

import pytest

from tests.unit.domain.replay import replay
from tests.unit.domain.stamps import assert_stamped, stamp
from timetracker.domain.errors import InvalidValueError
from timetracker.domain.user import User


def test_a_new_user_reports_in_utc() -> None:
    assert User.register(4, "alice", None, None, "user", stamp()).timezone == "UTC"


def test_setting_a_time_zone_records_user_timezone_changed() -> None:
    user = User.register(4, "alice", None, None, "user", stamp())
    by = stamp(5, "req-tz")
    assert user.set_timezone("Europe/Berlin", by) is True
    changed = user.pending_events[-1]
    assert isinstance(changed, User.TimezoneChanged)
    assert changed.timezone == "Europe/Berlin"
    assert_stamped([changed], by)
    assert replay(user.collect_events()).timezone == "Europe/Berlin"


def test_setting_the_same_time_zone_again_records_nothing() -> None:
    user = User.register(4, "alice", None, None, "user", stamp())
    user.collect_events()
    assert user.set_timezone("UTC", stamp()) is False
    assert user.pending_events == []


def test_an_empty_time_zone_is_refused() -> None:
    user = User.register(4, "alice", None, None, "user", stamp())
    with pytest.raises(InvalidValueError):
        user.set_timezone("", stamp())
