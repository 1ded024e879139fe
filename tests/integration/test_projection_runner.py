"""The projection runner: exactly once under concurrency, rebuilds, batches of 500."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from eventsourcing.domain import DomainEventProtocol
from psycopg import Cursor, sql

from tests.integration.history import (
    build_catalogue,
    build_projects,
    dump,
    positions,
    reset,
    stamp,
)
from timetracker.commands.application import TimeTracking
from timetracker.domain.client import Client
from timetracker.http.settings import Settings
from timetracker.projections.base import Projection
from timetracker.projections.engine import group_runner, tracking
from timetracker.projections.engine import runner as runner_module
from timetracker.projections.engine.group_runner import ProjectionGroupRunner
from timetracker.projections.engine.log_reader import LogReader, Stretch
from timetracker.projections.engine.runner import (
    BATCH_SIZE,
    LogFollower,
    ProjectionRunner,
    catch_up_each,
    create_schema,
)
from timetracker.projections.projects import ProjectsProjection

pytestmark = pytest.mark.integration


class EventLogProjection(Projection):
    """One row per event applied, with no unique key: an event applied twice shows twice."""

    name = "event_log"
    tables = ("event_log",)

    def create_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS event_log"
            " (originator_id uuid NOT NULL, originator_version integer NOT NULL)"
        ]

    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        cursor.execute(
            "INSERT INTO event_log VALUES (%s, %s)",
            (event.originator_id, event.originator_version),
        )


@pytest.fixture
def event_log(settings: Settings) -> EventLogProjection:
    """The event-log read model, its table created, tracked from 0."""
    projection = EventLogProjection()
    create_schema(settings.conninfo, [projection])
    return projection


@pytest.fixture
def tracking_moves(settings: Settings) -> Callable[[str], list[tuple[int, int]]]:
    """Records every move of a tracking position with its transaction; reads them back.

    The trigger runs inside the runner's own transaction, so a batch that is rolled back
    or discarded leaves no record.
    """
    with psycopg.connect(settings.conninfo) as conn, conn.transaction():
        conn.execute(tracking.CREATE_TRACKING_TABLE)
        conn.execute(
            "CREATE TABLE tracking_moves (seq bigserial PRIMARY KEY, name text NOT NULL,"
            " position bigint NOT NULL, txid bigint NOT NULL DEFAULT txid_current())"
        )
        conn.execute(
            "CREATE FUNCTION record_tracking_move() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN INSERT INTO tracking_moves (name, position) VALUES (NEW.name, NEW.position);"
            " RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER tracking_moved AFTER UPDATE OF position ON projection_tracking"
            " FOR EACH ROW EXECUTE FUNCTION record_tracking_move()"
        )

    def moves(name: str) -> list[tuple[int, int]]:
        with psycopg.connect(settings.conninfo) as conn:
            return conn.execute(  # type: ignore[return-value]
                "SELECT position, txid FROM tracking_moves WHERE name = %s ORDER BY seq", (name,)
            ).fetchall()

    return moves


def log_positions(store: TimeTracking) -> list[int]:
    """The position of every event in the log, in order."""
    found: list[int] = []
    while batch := store.recorder.select_notifications(
        start=found[-1] if found else 0, limit=1000, inclusive_of_start=False
    ):
        found += [n.id for n in batch]
    return found


def batch_ends(log: Sequence[int]) -> list[int]:
    """Where each batch of BATCH_SIZE events ends."""
    return [log[min(i + BATCH_SIZE, len(log)) - 1] for i in range(0, len(log), BATCH_SIZE)]


def applied_once(conninfo: str, table: str, total: int) -> None:
    with psycopg.connect(conninfo) as conn:
        counts = conn.execute(
            sql.SQL("SELECT count(*) FROM {} GROUP BY originator_id, originator_version").format(
                sql.Identifier(table)
            )
        ).fetchall()
    assert len(counts) == total
    assert {count for (count,) in counts} == {1}


def race(runners: Sequence[LogFollower]) -> None:
    """Start every runner's catch-up at the same moment; wait for all."""
    barrier = threading.Barrier(len(runners))

    def catch_up(runner: LogFollower) -> int:
        barrier.wait()
        try:
            return runner.catch_up()
        finally:
            runner.close()

    with ThreadPoolExecutor(max_workers=len(runners)) as pool:
        list(pool.map(catch_up, runners))


def test_two_runners_of_one_projection_apply_each_event_exactly_once(
    store: TimeTracking,
    projections: list[Projection],
    event_log: EventLogProjection,
    settings: Settings,
    tracking_moves: Callable[[str], list[tuple[int, int]]],
) -> None:
    total = build_catalogue(store, projects=1300)
    every = [*projections, event_log]
    log = log_positions(store)
    assert len(log) == total > 3000

    race([ProjectionRunner(store, p, settings.conninfo) for p in every for _ in range(2)])

    assert positions(settings.conninfo) == {p.name: log[-1] for p in every}
    applied_once(settings.conninfo, "event_log", total)
    for projection in every:
        # each batch moved the position once, in its own transaction, in log order
        moves = tracking_moves(projection.name)
        assert [position for position, _ in moves] == batch_ends(log)
        assert len({txid for _, txid in moves}) == len(moves)

    concurrent = dump(settings.conninfo, projections)
    reset(settings.conninfo, projections)
    catch_up_each(store, projections, settings.conninfo)
    assert dump(settings.conninfo, projections) == concurrent


def test_a_rebuild_from_position_zero_gives_identical_tables(
    store: TimeTracking, projections: list[Projection], settings: Settings
) -> None:
    build_catalogue(store, projects=300)
    runners = [ProjectionRunner(store, p, settings.conninfo) for p in projections]
    try:
        for runner in runners:
            runner.catch_up()
        before = dump(settings.conninfo, projections)
        assert {table: len(rows) for table, rows in before.items()} == {
            "users": 10,
            "api_tokens": 10,
            "clients": 20,
            "projects": 300,
            "project_clients": 20,
        }

        reset(settings.conninfo, projections)
        assert all(rows == [] for rows in dump(settings.conninfo, projections).values())
        # the same runners, still remembering the head, must start again from zero
        for runner in runners:
            runner.catch_up()
    finally:
        for runner in runners:
            runner.close()

    assert dump(settings.conninfo, projections) == before
    head = store.recorder.max_notification_id()
    assert positions(settings.conninfo) == {p.name: head for p in projections}


def test_a_catch_up_of_5000_events_commits_one_transaction_per_500(
    store: TimeTracking,
    settings: Settings,
    tracking_moves: Callable[[str], list[tuple[int, int]]],
) -> None:
    projection = ProjectsProjection()
    create_schema(settings.conninfo, [projection])
    assert build_projects(store, projects=1000, updates=4) == 5000
    log = log_positions(store)
    assert len(log) == 5000

    runner = ProjectionRunner(store, projection, settings.conninfo)
    try:
        assert runner.catch_up() == 5000
    finally:
        runner.close()

    moves = tracking_moves(projection.name)
    assert len(moves) == math.ceil(5000 / BATCH_SIZE) == 10
    assert [position for position, _ in moves] == batch_ends(log)
    assert len({txid for _, txid in moves}) == 10
    with psycopg.connect(settings.conninfo) as conn:
        summary = conn.execute(
            "SELECT count(*), min(version), max(version), count(DISTINCT description) FROM projects"
        ).fetchone()
    assert summary == (1000, 5, 5, 1)


class CountingReader(LogReader):
    """The store's log reader, counting the stretches it reads."""

    def __init__(self, store: TimeTracking) -> None:
        super().__init__(store)
        self.reads = 0

    def read(self, after: int, limit: int, stop: int | None = None) -> Stretch:
        self.reads += 1
        return super().read(after, limit, stop)


def test_a_catch_up_that_reads_fewer_events_than_a_batch_does_not_read_again(
    store: TimeTracking, settings: Settings
) -> None:
    """A follower woken by each append stops at a short stretch: the next append wakes it."""
    projection = ProjectsProjection()
    create_schema(settings.conninfo, [projection])
    build_projects(store, projects=3, updates=0)
    reader = CountingReader(store)
    runner = ProjectionRunner(store, projection, settings.conninfo, reader=reader)
    try:
        assert runner.catch_up() == 3
        assert reader.reads == 1
        assert runner.catch_up() == 0  # nothing new: one read finds nothing
        assert reader.reads == 2
        build_projects(store, projects=BATCH_SIZE, updates=0, first=4)
        assert runner.catch_up() == BATCH_SIZE  # a full batch may have more behind it
        assert reader.reads == 4
    finally:
        runner.close()


def _catch_up_starts(store: TimeTracking, settings: Settings, mid_batch: bool) -> list[float]:
    """When a following runner began its first two catch-ups: one event is recorded before
    it starts, and one more either while it applies the first (`mid_batch`, waking it) or
    once it is idle again."""
    projection = ProjectsProjection()
    create_schema(settings.conninfo, [projection])
    build_projects(store, projects=1, updates=0)
    began: list[float] = []
    idle = threading.Event()
    stop = threading.Event()

    class Followed(ProjectionRunner):
        def catch_up(self, stop_at: int | None = None) -> int:
            began.append(time.monotonic())
            done = super().catch_up(stop_at)
            if len(began) == 1:
                idle.set()
            return done

        def _apply(self, stretch: Stretch) -> None:
            super()._apply(stretch)
            if len(began) == 1 and mid_batch:  # an event arrives (and wakes this runner)
                build_projects(store, projects=1, updates=0, first=2)
                self.wake.set()
            elif len(began) == 2:
                stop.set()

    runner = Followed(store, projection, settings.conninfo)
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    try:
        assert idle.wait(10)
        if not mid_batch:
            time.sleep(0.5)  # the runner waits for the next append
            build_projects(store, projects=1, updates=0, first=2)
            runner.wake.set()  # as the store's NOTIFY does
        assert stop.wait(10), "the second event was never applied"
    finally:
        stop.set()
        thread.join(10)
        runner.close()
    return began


def test_while_events_keep_coming_a_follower_gathers_them_between_batches(
    store: TimeTracking, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append during a catch-up makes the next one wait until GATHER_SECONDS after the
    last one began, so a busy log is applied in fewer transactions."""
    monkeypatch.setattr(runner_module, "GATHER_SECONDS", 1.0)  # clear of any timing noise
    began = _catch_up_starts(store, settings, mid_batch=True)
    assert began[1] - began[0] >= 1.0


def test_an_append_to_a_quiet_log_is_applied_at_once(
    store: TimeTracking, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that waits for the read model before writing again: never a gathering wait."""
    monkeypatch.setattr(runner_module, "GATHER_SECONDS", 5.0)
    began = _catch_up_starts(store, settings, mid_batch=False)
    assert began[1] - began[0] < 5.0


# --- every PostgreSQL read model in one runner (group_runner.py) -------------------------


class FailingProjection(EventLogProjection):
    """The event log, failing every batch while `failing` is set."""

    name = "failing_log"
    tables = ("failing_log",)
    failing = True

    def create_statements(self) -> list[str]:
        return [s.replace("event_log", "failing_log") for s in super().create_statements()]

    attempts = 0

    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        self.attempts += 1
        if self.failing:
            raise RuntimeError("this read model cannot apply events")
        cursor.execute(
            "INSERT INTO failing_log VALUES (%s, %s)",
            (event.originator_id, event.originator_version),
        )


def test_a_group_applies_each_batch_to_every_read_model_in_one_transaction(
    store: TimeTracking,
    projections: list[Projection],
    event_log: EventLogProjection,
    settings: Settings,
    tracking_moves: Callable[[str], list[tuple[int, int]]],
) -> None:
    total = build_catalogue(store, projects=1300)
    every = [*projections, event_log]
    log = log_positions(store)

    # two groups racing, as two processes might: each event still applied once
    race([ProjectionGroupRunner(store, every, settings.conninfo) for _ in range(2)])

    assert positions(settings.conninfo) == {p.name: log[-1] for p in every}
    applied_once(settings.conninfo, "event_log", total)
    moves = {p.name: tracking_moves(p.name) for p in every}
    for projection in every:
        assert [position for position, _ in moves[projection.name]] == batch_ends(log)
    # each batch moved every read model in one transaction
    for batch in range(len(batch_ends(log))):
        assert len({moves[p.name][batch][1] for p in every}) == 1

    together = dump(settings.conninfo, projections)
    reset(settings.conninfo, projections)
    catch_up_each(store, projections, settings.conninfo)
    assert dump(settings.conninfo, projections) == together


def test_a_read_model_moved_back_is_caught_up_alone(
    store: TimeTracking,
    projections: list[Projection],
    event_log: EventLogProjection,
    settings: Settings,
) -> None:
    """A read model reset while the group reads a stretch (behind it, then) is left out of
    that batch; the group reads from its position again and gives the others only what
    they have not applied."""
    every = [*projections, event_log]
    total = build_catalogue(store, projects=1300)
    group = ProjectionGroupRunner(store, every, settings.conninfo)
    try:
        group.catch_up()
        before = dump(settings.conninfo, projections)
        clients = projections[1]
        assert clients.name == "clients"

        class ResettingReader(LogReader):
            resets = 0

            def read(self, after: int, limit: int, stop: int | None = None) -> Stretch:
                stretch = super().read(after, limit, stop)
                if after > 0 and not self.resets:
                    reset(settings.conninfo, [clients])  # between the read and the batch
                    self.resets += 1
                return stretch

        store.save(*(Client.create(n, {"name": f"Later {n}"}, stamp(n)) for n in (901, 902, 903)))
        total += 3
        group.reader = ResettingReader(store)
        group.catch_up()
    finally:
        group.close()
    head = store.recorder.max_notification_id()
    assert positions(settings.conninfo) == {p.name: head for p in every}
    applied_once(settings.conninfo, "event_log", total)
    after = dump(settings.conninfo, projections)
    assert after["clients"][: len(before["clients"])] == before["clients"]
    assert len(after["clients"]) == len(before["clients"]) + 3


def test_a_failing_read_model_rests_while_the_others_go_on(
    store: TimeTracking,
    event_log: EventLogProjection,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(group_runner, "REST_SECONDS", 0.3)
    failing = FailingProjection()
    create_schema(settings.conninfo, [failing])
    total = build_catalogue(store, projects=700)
    head = store.recorder.max_notification_id()
    group = ProjectionGroupRunner(store, [event_log, failing], settings.conninfo)
    try:
        group.catch_up()
        assert positions(settings.conninfo)[event_log.name] == head
        assert positions(settings.conninfo)[failing.name] == 0
        tried = failing.attempts
        group.catch_up()  # resting: not tried again
        assert failing.attempts == tried

        failing.failing = False
        time.sleep(0.3)
        group.catch_up()
    finally:
        group.close()
    found = positions(settings.conninfo)
    assert (found[event_log.name], found[failing.name]) == (head, head)
    applied_once(settings.conninfo, "event_log", total)
    applied_once(settings.conninfo, "failing_log", total)


def test_a_read_model_held_by_another_transaction_is_left_out_while_the_others_go_on(
    store: TimeTracking,
    event_log: EventLogProjection,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A verify holds a read model's tracking row while it compares: the group's batches
    leave that read model out instead of waiting, and it catches up once let go."""
    monkeypatch.setattr(group_runner, "BUSY_SECONDS", 0.05)
    held = FailingProjection()
    held.failing = False
    create_schema(settings.conninfo, [held])
    total = build_catalogue(store, projects=20)
    group = ProjectionGroupRunner(store, [event_log, held], settings.conninfo)
    try:
        group.catch_up()
        before = store.recorder.max_notification_id()
        with psycopg.connect(settings.conninfo) as holder:
            tracking.lock_row(holder.cursor(), held.name)  # held until the block ends
            store.save(
                *(Client.create(n, {"name": f"Later {n}"}, stamp(n)) for n in (901, 902, 903))
            )
            total += 3
            head = store.recorder.max_notification_id()
            catching_up = threading.Thread(target=group.catch_up)
            catching_up.start()
            catching_up.join(10)
            went_on = not catching_up.is_alive()
            assert went_on, "the group waited for the held read model"
            found = positions(settings.conninfo)
            assert (found[event_log.name], found[held.name]) == (head, before)
            assert group.idle_seconds() <= 0.05  # looks again when the rest ends
        catching_up.join()
        time.sleep(0.05)
        group.catch_up()
    finally:
        group.close()
    found = positions(settings.conninfo)
    assert (found[event_log.name], found[held.name]) == (head, head)
    applied_once(settings.conninfo, "event_log", total)
    applied_once(settings.conninfo, "failing_log", total)
