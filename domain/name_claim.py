"""The NameClaim aggregate: makes a name unique among active resources of one kind.

Saving the claim in the same transaction as the resource turns a duplicate name into a
store conflict, so two concurrent creations with one name cannot both succeed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from timetracker.domain.errors import NameTakenError
from timetracker.domain.events import RecordedCreation, RecordedEvent
from timetracker.domain.values import Stamp

_CLAIM_NAMESPACE = uuid5(NAMESPACE_URL, "https://timetracker.example/name-claims")


def claim_id(kind: str, name: str) -> UUID:
    """The claim aggregate's id for a name (case-insensitive)."""
    return uuid5(_CLAIM_NAMESPACE, f"{kind}/{name.strip().casefold()}")


class NameClaim(Aggregate):
    """Who holds one name of one kind, if anyone."""

    class Claimed(RecordedCreation):
        kind: str
        name: str
        holder: int

    class Reclaimed(RecordedEvent):
        holder: int

    class Released(RecordedEvent):
        pass

    @staticmethod
    def create_id(kind: str, name: str) -> UUID:
        return claim_id(kind, name)

    @classmethod
    def take(cls, kind: str, name: str, holder: int, stamp: Stamp) -> NameClaim:
        """A new claim on a name never claimed before."""
        return cls(kind=kind, name=name, holder=holder, **stamp.event_fields())

    @event(Claimed)
    def __init__(
        self,
        kind: str,
        name: str,
        holder: int,
        timestamp: datetime,
        actor: dict[str, Any],
        request_id: str,
    ) -> None:
        self.kind = kind
        self.name = name
        self.holder: int | None = holder

    def retake(self, holder: int, stamp: Stamp) -> None:
        """Claim a released name again; refused while another resource holds it."""
        if self.holder is not None and self.holder != holder:
            raise NameTakenError(f"The {self.kind} name '{self.name}' is taken.")
        if self.holder is None:
            self._reclaim(holder=holder, **stamp.event_fields())

    @event(Reclaimed)
    def _reclaim(
        self, holder: int, timestamp: datetime, actor: dict[str, Any], request_id: str
    ) -> None:
        self.holder = holder

    def release(self, holder: int, stamp: Stamp) -> None:
        """Free the name for others, if `holder` holds it."""
        if self.holder == holder:
            self._release(**stamp.event_fields())

    @event(Released)
    def _release(self, timestamp: datetime, actor: dict[str, Any], request_id: str) -> None:
        self.holder = None
