"""Rebuild an aggregate from its events as the store does: stored form, then folded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

# The library's own mapper and transcoder (in memory): what a stored event turns into.
_MAPPER = Application().mapper


def replay(events: Sequence[Aggregate.Event]) -> Any:
    """The aggregate rebuilt from `events` after each went through the stored form."""
    aggregate: Any = None
    for event in events:
        stored = _MAPPER.to_stored_event(event)
        restored = _MAPPER.to_domain_event(stored)
        assert restored == event
        aggregate = restored.mutate(aggregate)
    return aggregate


def state(aggregate: Aggregate) -> dict[str, Any]:
    """Everything an aggregate holds except its not yet saved events."""
    return {name: value for name, value in vars(aggregate).items() if name != "_pending_events"}
