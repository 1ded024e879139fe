"""Parts of a stretch of the log: by position, limit and stop."""

from __future__ import annotations

from typing import Any

from timetracker.projections.engine.log_reader import Stretch

# Positions with a gap (a rolled-back insert leaves one), the events standing for themselves.
POSITIONS = [3, 4, 5, 7, 8, 9]
STRETCH = Stretch(2, POSITIONS, [f"event {p}" for p in POSITIONS])  # type: ignore[misc]


def _part(after: int, limit: int, stop: int | None) -> tuple[int, list[int], list[Any]]:
    part = STRETCH.part(after, limit, stop)
    return part.last, part.positions, part.events


def test_a_part_starts_after_its_position_and_keeps_events_with_their_positions() -> None:
    assert _part(2, 100, None) == (9, POSITIONS, [f"event {p}" for p in POSITIONS])
    assert _part(5, 100, None) == (9, [7, 8, 9], ["event 7", "event 8", "event 9"])
    assert _part(6, 100, None)[1] == [7, 8, 9]


def test_a_part_stops_at_its_limit_and_at_its_stop_position() -> None:
    assert _part(2, 2, None)[1] == [3, 4]
    assert _part(2, 100, 7)[1] == [3, 4, 5, 7]
    assert _part(2, 100, 6)[1] == [3, 4, 5]
    assert _part(4, 2, 8)[1] == [5, 7]


def test_an_empty_part_ends_where_it_starts() -> None:
    assert _part(9, 100, None) == (9, [], [])
    assert _part(4, 100, 4) == (4, [], [])
    assert Stretch(0, [], []).last == 0
