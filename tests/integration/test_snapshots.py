"""Snapshots of the streams that grow: taken every SNAPSHOT_INTERVAL events, used when loading,
equal to a full replay, and never in the way of concurrent writers."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import (
    CreateEntry,
    CreateProject,
    CreateTask,
    StopTimer,
    UpdateProject,
)
from timetracker.domain.errors import NoActiveTimerError, TimerAlreadyRunningError
from timetracker.domain.project import Project
from timetracker.domain.task import Task
from timetracker.domain.timer import Timer, timer_id
from timetracker.domain.values import Stamp, aggregate_id
from timetracker.http.settings import Settings

USER = 7
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


@pytest.fixture
def open_store(settings: Settings) -> Iterator[Any]:
    """`open_store(interval)`: an event store on the test database snapshotting so often."""
    opened: list[TimeTracking] = []

    def open_with(interval: int) -> TimeTracking:
        store = TimeTracking(
            dataclasses.replace(settings, snapshot_interval=interval).event_store_env()
        )
        opened.append(store)
        return store

    yield open_with
    for store in opened:
        store.close()


def _stamp(minute: int) -> Stamp:
    return Stamp(at=BASE + timedelta(minutes=minute), user_id=USER, request_id=f"r{minute}")


def _project(store: TimeTracking) -> int:
    return store.create_project(CreateProject({"name": "Snap"}, _stamp(0))).id


def _run_timer(store: TimeTracking, project: int, times: int, first_minute: int = 1) -> None:
    for n in range(times):
        minute = first_minute + 2 * n
        store.start_timer(CreateEntry(USER, {"project_id": project}, _stamp(minute)))
        store.stop_timer(StopTimer(USER, _stamp(minute + 1)))


def _snapshot_versions(settings: Settings, aggregate: UUID) -> list[int]:
    with psycopg.connect(settings.conninfo) as conn:
        rows = conn.execute(
            "SELECT originator_version FROM timetracking_snapshots WHERE originator_id = %s"
            " ORDER BY originator_version",
            (aggregate,),
        ).fetchall()
    return [int(row[0]) for row in rows]


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if not k.startswith("_pending")}


def test_a_timer_is_snapshotted_every_interval_and_loads_as_its_full_replay(
    open_store: Any, settings: Settings
) -> None:
    store = open_store(5)
    project = _project(store)
    _run_timer(store, project, 7)  # Created, then 14 starts and stops: version 15

    assert _snapshot_versions(settings, timer_id(USER)) == [5, 10, 15]
    loaded = store.repository.get(timer_id(USER))
    replayed = open_store(0).repository.get(timer_id(USER))  # no snapshot store: every event
    assert loaded.version == replayed.version == 15
    assert _state(loaded) == _state(replayed)
    for version in (4, 5, 6, 12):
        at = store.repository.get(timer_id(USER), version=version)
        assert _state(at) == _state(open_store(0).repository.get(timer_id(USER), version=version))


def test_loading_starts_from_the_latest_snapshot(open_store: Any, settings: Settings) -> None:
    store = open_store(4)
    project = _project(store)
    _run_timer(store, project, 3)  # version 7: a snapshot at 4, events 5-7 after it
    # Mark the snapshot: a load that uses it shows the mark, a full replay would not.
    with psycopg.connect(settings.conninfo) as conn:
        conn.execute(
            "UPDATE timetracking_snapshots SET state = convert_to(replace("
            "convert_from(state, 'UTF8'), '\"user_id\":7', '\"user_id\":70'), 'UTF8')"
            " WHERE originator_id = %s AND originator_version = 4",
            (timer_id(USER),),
        )
    assert store.repository.get(timer_id(USER)).user_id == 70
    assert store.repository.get(timer_id(USER), version=3).user_id == USER
    assert open_store(0).repository.get(timer_id(USER)).user_id == USER


def test_busy_projects_are_snapshotted_too(open_store: Any, settings: Settings) -> None:
    store = open_store(3)
    project = _project(store)
    for n in range(7):
        store.update_project(UpdateProject(project, {"description": f"d{n}"}, _stamp(10 + n)))

    assert _snapshot_versions(settings, aggregate_id("project", project)) == [3, 6]
    loaded: Project = store.repository.get(aggregate_id("project", project))
    assert (loaded.version, loaded.description) == (8, "d6")
    assert _state(loaded) == _state(open_store(0).repository.get(loaded.id))


def test_with_an_interval_of_zero_nothing_is_snapshotted(open_store: Any) -> None:
    store = open_store(0)
    project = _project(store)
    _run_timer(store, project, 60)

    assert store.snapshots is None
    assert store.repository.get(timer_id(USER)).version == 121


def test_racing_writers_still_conflict_and_every_snapshot_equals_the_replay(
    open_store: Any, settings: Settings
) -> None:
    store = open_store(2)  # every second version: every winning start or stop crosses one
    project = _project(store)
    rounds, racers = 8, 6
    outcomes: list[str] = []
    lock = threading.Lock()

    def race(action: str, minute: int) -> None:
        barrier = threading.Barrier(racers)

        def one() -> None:
            barrier.wait()
            try:
                if action == "start":
                    store.start_timer(CreateEntry(USER, {"project_id": project}, _stamp(minute)))
                else:
                    store.stop_timer(StopTimer(USER, _stamp(minute)))
                outcome = "won"
            except (TimerAlreadyRunningError, NoActiveTimerError):
                outcome = "refused"
            with lock:
                outcomes.append(f"{action} {outcome}")

        threads = [threading.Thread(target=one) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    for n in range(rounds):
        race("start", 100 + 2 * n)
        race("stop", 101 + 2 * n)

    assert sorted(outcomes) == sorted(
        ["start won"] * rounds
        + ["start refused"] * rounds * (racers - 1)
        + ["stop won"] * rounds
        + ["stop refused"] * rounds * (racers - 1)
    )
    with psycopg.connect(settings.conninfo) as conn:
        versions = [
            int(row[0])
            for row in conn.execute(
                "SELECT originator_version FROM timetracking_events WHERE originator_id = %s"
                " ORDER BY originator_version",
                (timer_id(USER),),
            ).fetchall()
        ]
    assert versions == list(range(1, 2 * rounds + 2))  # gapless: Created + 16 changes
    assert _snapshot_versions(settings, timer_id(USER)) == list(range(2, 2 * rounds + 2, 2))
    replaying = open_store(0)
    for version in range(2, 2 * rounds + 2, 2):
        snapshot = next(iter(store.snapshots.get(timer_id(USER), lte=version, desc=True, limit=1)))
        assert snapshot.originator_version == version
        timer: Timer = replaying.repository.get(timer_id(USER), version=version)
        assert snapshot.state["running_entry_id"] == timer.running_entry_id
        assert snapshot.state["user_id"] == USER


def test_a_snapshot_that_cannot_be_stored_neither_fails_nor_repeats_the_write(
    open_store: Any, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(3)
    project = _project(store)
    store.start_timer(CreateEntry(USER, {"project_id": project}, _stamp(1)))  # timer version 2
    # The snapshots table refuses the next snapshot with an integrity error: the kind of
    # error `write()` takes for a conflicting write and retries.
    with psycopg.connect(settings.conninfo) as conn:
        conn.execute(
            "ALTER TABLE timetracking_snapshots"
            " ADD CONSTRAINT refuse_snapshots CHECK (originator_version < 0) NOT VALID"
        )
        before = conn.execute("SELECT count(*) FROM timetracking_events").fetchone()

    with caplog.at_level(logging.WARNING, logger="timetracker.commands.store"):
        written = store.stop_timer(StopTimer(USER, _stamp(2)))

    assert written.version == 2  # the entry, stopped once
    with psycopg.connect(settings.conninfo) as conn:
        after = conn.execute("SELECT count(*) FROM timetracking_events").fetchone()
    assert before is not None and after is not None
    assert after[0] == before[0] + 2  # Timer.Stopped and Entry.Edited, once
    assert [r.getMessage() for r in caplog.records] == [
        f"Could not snapshot {timer_id(USER)} at version 3"
    ]
    assert _snapshot_versions(settings, timer_id(USER)) == []
    assert store.repository.get(timer_id(USER)).version == 3


def _mark_snapshot(settings: Settings, originator: UUID, name: str, marked: str) -> None:
    with psycopg.connect(settings.conninfo) as conn:
        conn.execute(
            "UPDATE timetracking_snapshots SET state = convert_to(replace("
            "convert_from(state, 'UTF8'), %s, %s), 'UTF8') WHERE originator_id = %s",
            (f'"name":"{name}"', f'"name":"{marked}"', originator),
        )


def test_only_snapshotted_kinds_load_through_the_snapshot_table(
    open_store: Any, settings: Settings
) -> None:
    store = open_store(100)
    project = _project(store)
    task = store.create_task(CreateTask(project, {"name": "Plain"}, _stamp(1))).id
    for kind, number in (("task", task), ("project", project)):
        store.take_snapshot(aggregate_id(kind, number))  # a snapshot of each, marked
    _mark_snapshot(settings, aggregate_id("task", task), "Plain", "Marked task")
    _mark_snapshot(settings, aggregate_id("project", project), "Snap", "Marked project")

    # A task is never snapshotted: its load reads its events alone (one query, not two),
    # so even a snapshot put there by hand is not looked at.
    assert store.repository.get(aggregate_id("task", task)).name == "Marked task"
    assert store.load(Task, "task", task).name == "Plain"
    found = store.load_optional(Task, aggregate_id("task", task))
    assert found is not None and found.name == "Plain"
    # A project may be: its load starts from the latest snapshot.
    assert store.load(Project, "project", project).name == "Marked project"
