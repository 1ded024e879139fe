"""The Timer aggregate: at most one running entry per user."""

from __future__ import annotations

import pytest

from tests.unit.domain.replay import replay, state
from tests.unit.domain.stamps import assert_stamped, stamp
from timetracker.domain.errors import NoActiveTimerError, TimerAlreadyRunningError
from timetracker.domain.timer import Timer, timer_id


def a_timer() -> Timer:
    timer = Timer.for_user(7, stamp())
    timer.collect_events()
    return timer


def test_a_users_timer_has_an_id_derived_from_the_user() -> None:
    assert Timer.for_user(7, stamp()).id == timer_id(7) == Timer.create_id(7)


def test_starting_records_the_running_entry() -> None:
    timer = a_timer()

    timer.start(12, stamp(1))

    [started] = timer.pending_events
    assert isinstance(started, Timer.Started) and started.entry_id == 12
    assert timer.running_entry_id == 12
    assert_stamped(timer.pending_events, stamp(1))


def test_a_second_start_while_one_runs_is_refused() -> None:
    timer = a_timer()
    timer.start(12, stamp(1))
    with pytest.raises(TimerAlreadyRunningError):
        timer.start(13, stamp(2))
    assert timer.running_entry_id == 12


def test_stopping_returns_the_entry_and_frees_the_timer() -> None:
    timer = a_timer()
    timer.start(12, stamp(1))
    timer.collect_events()

    assert timer.stop(stamp(2)) == 12

    [stopped] = timer.pending_events
    assert isinstance(stopped, Timer.Stopped) and stopped.entry_id == 12
    assert timer.running_entry_id is None
    timer.start(13, stamp(3))  # free for the next one


def test_stopping_without_a_running_entry_is_refused() -> None:
    with pytest.raises(NoActiveTimerError):
        a_timer().stop(stamp(1))


def test_replaying_the_events_rebuilds_an_equal_timer() -> None:
    timer = Timer.for_user(7, stamp())
    timer.start(12, stamp(1))
    timer.stop(stamp(2))
    timer.start(13, stamp(3))
    assert state(replay(timer.collect_events())) == state(timer)
