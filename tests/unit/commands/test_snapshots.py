"""Snapshots in the in-memory store: the interval comes from the store's environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import CreateEntry, CreateProject, StopTimer
from timetracker.domain.timer import timer_id
from timetracker.domain.values import Stamp

BASE = datetime.now(UTC) - timedelta(days=1)


def _stamp(minute: int) -> Stamp:
    return Stamp(at=BASE + timedelta(minutes=minute), user_id=7)


def _timer_runs(store: TimeTracking, runs: int) -> None:
    project = store.create_project(CreateProject({"name": "P"}, _stamp(0))).id
    for n in range(runs):
        store.start_timer(CreateEntry(7, {"project_id": project}, _stamp(1 + 2 * n)))
        store.stop_timer(StopTimer(7, _stamp(2 + 2 * n)))


def test_a_timer_is_snapshotted_at_every_multiple_of_the_interval() -> None:
    store = TimeTracking({"SNAPSHOT_INTERVAL": "4"})
    _timer_runs(store, 4)  # Created and 8 changes: version 9

    assert store.snapshots is not None
    snapshots = list(store.snapshots.get(timer_id(7)))
    assert [s.originator_version for s in snapshots] == [4, 8]
    assert [s.state["running_entry_id"] for s in snapshots] == [2, 4]  # even versions: starts
    assert store.repository.get(timer_id(7)).version == 9


def test_an_interval_of_zero_keeps_no_snapshot_store() -> None:
    store = TimeTracking({"SNAPSHOT_INTERVAL": "0"})
    _timer_runs(store, 60)

    assert store.snapshots is None
    assert store.repository.get(timer_id(7)).version == 121


def test_the_default_interval_is_100() -> None:
    store = TimeTracking()
    _timer_runs(store, 50)  # version 101

    assert store.snapshot_interval == 100
    assert store.snapshots is not None
    assert [s.originator_version for s in store.snapshots.get(timer_id(7))] == [100]
