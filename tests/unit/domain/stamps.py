"""Stamps for domain tests: a fixed clock, one actor, one request id per stamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from timetracker.domain.values import Stamp

T0 = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
ACTOR = {"user_id": 7, "token_id": 3, "token_prefix": "tt_abcde"}


def stamp(minutes: int = 0, request_id: str = "req-0") -> Stamp:
    """The actor ACTOR acting `minutes` after T0 in request `request_id`."""
    return Stamp(
        at=T0 + timedelta(minutes=minutes),
        user_id=ACTOR["user_id"],
        token_id=ACTOR["token_id"],
        token_prefix=ACTOR["token_prefix"],
        request_id=request_id,
    )


def assert_stamped(events: Any, by: Stamp) -> None:
    """Every event records the stamp's actor, request id and time."""
    assert events, "expected at least one event"
    for event in events:
        assert event.actor == ACTOR
        assert event.request_id == by.request_id
        assert event.timestamp == by.at
