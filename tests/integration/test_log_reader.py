"""Reading the log for projections: the same events as the library reads, in any stretches."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.history import build_catalogue
from timetracker.commands.application import TimeTracking
from timetracker.projections.engine.log_reader import (
    LogReader,
    ReadAhead,
    Share,
    SharedLog,
    Stretch,
)
from timetracker.projections.engine.runner import LogFollower

pytestmark = pytest.mark.integration


def _library_view(store: TimeTracking) -> list[tuple[int, object, int, str]]:
    notifications = store.recorder.select_notifications(start=1, limit=100_000)
    events = [store.mapper.to_domain_event(n) for n in notifications]
    return [
        (n.id, e.originator_id, e.originator_version, type(e).__qualname__)
        for n, e in zip(notifications, events, strict=True)
    ]


@pytest.mark.parametrize("reader_class", [LogReader, ReadAhead])
@pytest.mark.parametrize(("limit", "stops"), [(7, ()), (50, (13, 14, 60)), (1000, (5,))])
def test_stretches_of_any_size_and_stop_read_the_log_as_the_library_does(
    store: TimeTracking, reader_class: type[LogReader], limit: int, stops: tuple[int, ...]
) -> None:
    build_catalogue(store, projects=20)
    expected = _library_view(store)
    head = expected[-1][0]
    reader = reader_class(store)
    seen: list[tuple[int, object, int, str]] = []
    position = 0
    try:
        for stop in [*stops, None]:
            while stop is None or position < stop:
                stretch = reader.read(position, limit, stop)
                if not stretch.positions:
                    break
                assert len(stretch.positions) <= limit
                assert stop is None or stretch.last <= stop
                seen += [
                    (p, e.originator_id, e.originator_version, type(e).__qualname__)
                    for p, e in zip(stretch.positions, stretch.events, strict=True)
                ]
                position = stretch.last
    finally:
        reader.close()
    assert reader.head() == head
    assert seen == expected


@pytest.mark.parametrize("limit", [3, 1000])
def test_the_shares_of_the_log_together_are_the_log_each_event_in_one_share(
    store: TimeTracking, limit: int
) -> None:
    build_catalogue(store, projects=20)
    expected = _library_view(store)
    seen: list[tuple[int, object, int, str]] = []
    for index in range(3):
        share = Share(index, 3)
        reader = ReadAhead(store, share)
        position = 0
        try:
            while (stretch := reader.read(position, limit)).positions:
                for p, e in zip(stretch.positions, stretch.events, strict=True):
                    assert e.originator_id.bytes[15] % 3 == index
                    seen.append((p, e.originator_id, e.originator_version, type(e).__qualname__))
                position = stretch.last
        finally:
            reader.close()
    assert sorted(seen, key=lambda item: item[0]) == expected


def test_a_stretch_that_failed_to_be_read_ahead_is_read_again_when_asked_for(
    store: TimeTracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_catalogue(store, projects=5)
    expected = [entry[0] for entry in _library_view(store)]
    calls = {"n": 0}
    real_read = LogReader.read

    def flaky(self: LogReader, after: int, limit: int, stop: int | None = None) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the first read ahead
            raise OSError("connection lost")
        return real_read(self, after, limit, stop)

    monkeypatch.setattr(LogReader, "read", flaky)
    reader = ReadAhead(store)
    try:
        first = reader.read(0, 10)
        second = reader.read(first.last, 10)
    finally:
        reader.close()
    assert first.positions + second.positions == expected[:20]


class _Recording(LogFollower):
    """A runner that records what it applies (slowly, if told), or fails at a position."""

    def __init__(
        self, store: TimeTracking, reader: LogReader, delay: float = 0.0, fail_at: int = 0
    ) -> None:
        super().__init__(store, reader=reader)
        self.name = "recording"
        self.batch_size = 10
        self.delay = delay
        self.fail_at = fail_at
        self.applied: list[int] = []

    def stored_position(self) -> int:
        return self.position

    def _apply(self, stretch: Stretch) -> None:
        if self.fail_at and stretch.last >= self.fail_at:
            raise RuntimeError("this read model fails here")
        time.sleep(self.delay)
        self.applied += stretch.positions
        self.position = stretch.last

    def close(self) -> None:
        pass


def test_runners_sharing_the_log_each_apply_every_event_once_at_their_own_pace(
    store: TimeTracking,
) -> None:
    build_catalogue(store, projects=20)
    head = store.recorder.max_notification_id()
    log = SharedLog(store)
    quick, slow = _Recording(store, log), _Recording(store, log, delay=0.01)
    reported: list[int] = []

    reached = log.apply_each([quick, slow], head, 10, reported.append)

    assert reached == head
    assert quick.applied == slow.applied == [n for n, *_ in _library_view(store)]
    assert reported == sorted(reported) and reported[-1] == head


def test_a_runner_that_fails_stops_the_others_and_its_error_is_raised(
    store: TimeTracking,
) -> None:
    build_catalogue(store, projects=20)
    head = store.recorder.max_notification_id()
    log = SharedLog(store)
    failing, other = _Recording(store, log, fail_at=head // 2), _Recording(store, log)

    with pytest.raises(RuntimeError, match="fails here"):
        log.apply_each([failing, other], head, 10)

    assert len(other.applied) < head  # it stopped before the end
