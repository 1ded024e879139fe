"""Base classes of every domain event: each records who acted and in which request."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate


class RecordedEvent(Aggregate.Event):
    """An event on an existing aggregate; `timestamp` is when it happened."""

    actor: dict[str, Any]
    request_id: str


class RecordedCreation(Aggregate.Created):
    """The first event of an aggregate."""

    actor: dict[str, Any]
    request_id: str
