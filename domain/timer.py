"""The Timer aggregate: one per user, owning that user's running entry.

Every start and stop is an event on the user's one Timer stream, so two concurrent
starts append to the same stream at the same version: the store accepts one and
refuses the other, and at most one timer runs per user.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from timetracker.domain.errors import NoActiveTimerError, TimerAlreadyRunningError
from timetracker.domain.events import RecordedCreation, RecordedEvent
from timetracker.domain.values import Stamp, aggregate_id


def timer_id(user_id: int) -> UUID:
    """The id of a user's Timer aggregate."""
    return aggregate_id("timer", user_id)


class Timer(Aggregate):
    """Which entry of one user, if any, is running."""

    class Created(RecordedCreation):
        user_id: int

    class Started(RecordedEvent):
        entry_id: int

    class Stopped(RecordedEvent):
        entry_id: int

    @staticmethod
    def create_id(user_id: int) -> UUID:
        return timer_id(user_id)

    @classmethod
    def for_user(cls, user_id: int, stamp: Stamp) -> Timer:
        """A user's timer, created on their first start."""
        return cls(user_id=user_id, **stamp.event_fields())

    @event(Created)
    def __init__(
        self, user_id: int, timestamp: datetime, actor: dict[str, Any], request_id: str
    ) -> None:
        self.user_id = user_id
        self.running_entry_id: int | None = None

    def start(self, entry_id: int, stamp: Stamp) -> None:
        """Start running an entry (event TimerStarted); refused while one runs."""
        if self.running_entry_id is not None:
            raise TimerAlreadyRunningError(
                f"A timer is already running (time entry {self.running_entry_id})."
            )
        self._start(entry_id=entry_id, **stamp.event_fields())

    @event(Started)
    def _start(
        self, entry_id: int, timestamp: datetime, actor: dict[str, Any], request_id: str
    ) -> None:
        self.running_entry_id = entry_id

    def stop(self, stamp: Stamp) -> int:
        """Stop the running entry (event TimerStopped); returns its id."""
        if self.running_entry_id is None:
            raise NoActiveTimerError("No timer is running.")
        entry_id = self.running_entry_id
        self._stop(entry_id=entry_id, **stamp.event_fields())
        return entry_id

    @event(Stopped)
    def _stop(
        self, entry_id: int, timestamp: datetime, actor: dict[str, Any], request_id: str
    ) -> None:
        self.running_entry_id = None
