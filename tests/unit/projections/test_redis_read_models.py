"""The Redis read models' folds: a batch of events as key and hash changes, no Redis."""

from __future__ import annotations

from datetime import timedelta

import orjson

from tests.unit.domain.stamps import T0, stamp
from tests.unit.projections.events import USER, entry, events_of, project
from timetracker.domain.timer import Timer
from timetracker.projections.base import RedisReads, RedisWrites
from timetracker.projections.report_rollups import (
    ReportRollupsProjection,
    all_day_key,
    user_day_key,
)
from timetracker.projections.running_timers import TIMERS_KEY, RunningTimersProjection

DAY = (T0 - timedelta(hours=3)).date()


def test_a_started_timer_names_its_entry_and_a_stopped_one_is_removed() -> None:
    timer = Timer.for_user(USER, stamp())
    timer.start(12, stamp(1))
    started = events_of(timer)
    timer.stop(stamp(2))
    stopped = events_of(timer)
    field = (TIMERS_KEY, timer.id.hex)

    writes = RedisWrites()
    RunningTimersProjection().fold(started, RedisReads(), writes)
    assert writes.hash_values == {field: "12"}

    RunningTimersProjection().fold(stopped, RedisReads(), writes)
    assert writes.hash_values == {field: None}


def _sums(writes: RedisWrites, key: str) -> dict[str, int]:
    return {f: n for (k, f), n in writes.increments.items() if k == key}


def test_a_new_entry_adds_to_its_users_day_and_everyones_day() -> None:
    made = entry(hours=1, billable=False)
    projection = ReportRollupsProjection()
    batch = events_of(made)

    assert projection.fields_to_read(batch) == []
    writes = RedisWrites()
    projection.fold(batch, RedisReads(), writes)

    expected = {"5:s": 3600, "5:b": 0, "5:n": 1}
    assert _sums(writes, user_day_key(USER, DAY)) == expected
    assert _sums(writes, all_day_key(DAY)) == expected
    [(field, state)] = writes.hash_values.items()
    assert field[0].startswith("rollup:entries:")
    assert state is not None and orjson.loads(state)["seconds"] == 3600


def test_an_edit_takes_back_the_entrys_contribution_and_adds_the_new_one() -> None:
    made = entry(hours=1)
    [created] = events_of(made)
    made.edit({"end_time": T0 - timedelta(hours=1)}, project(), None, stamp(1))
    made.delete(stamp(2))
    edited, deleted = events_of(made)
    projection = ReportRollupsProjection()
    first = RedisWrites()
    projection.fold([created], RedisReads(), first)
    [(field, stored)] = first.hash_values.items()

    assert projection.fields_to_read([edited]) == [field]
    writes = RedisWrites()
    projection.fold([edited, deleted], RedisReads(hash_values={field: stored}), writes)

    # +2 h -1 h for the edit, then -2 h for the delete: the day is back at zero
    assert _sums(writes, user_day_key(USER, DAY)) == {"5:s": -3600, "5:b": -3600, "5:n": -1}
    assert writes.hash_values == {field: None}
