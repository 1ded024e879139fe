"""Idempotency-Key claims checked inside the transaction that appends a write's events.

A POST with an `Idempotency-Key` first claims the key (a row in `idempotency_keys` with a
fresh claim token, see `http/idempotency.py`). When its command saves events, the same
transaction marks the row `applied`, but only while the row still holds this request's
token. So:

- a request whose events committed can never be run again under its key (a retry replays
  its answer, or learns that it was applied if the server died before answering);
- a claim left behind by a request that died before writing can be taken over by a retry
  (a new token); if the first request was only slow, not dead, its save then finds the
  token gone and fails without writing (`ClaimLostError`, 409).

The HTTP layer hands the claim over explicitly: `run_claimed(claim, command, message)`
runs the command in the command thread with the claim held, and the recorder reads it
there. (The library's `save` offers no argument for it, so between `run_claimed` and the
recorder it rides in the context variable `current_claim`, set in that thread only.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg import Cursor

from timetracker.commands.array_recorder import ArrayInsertRecorder
from timetracker.domain.errors import ConflictError


@dataclass(frozen=True)
class KeyClaim:
    """One request's hold on an Idempotency-Key."""

    user_id: int
    key: str
    token: UUID


current_claim: ContextVar[KeyClaim | None] = ContextVar("current_claim", default=None)
C = TypeVar("C")
R = TypeVar("R")


def run_claimed(claim: KeyClaim | None, command: Callable[[C], R], message: C) -> R:
    """`command(message)` with `claim` held: the events it saves mark the claim applied in
    their transaction, or it fails with `ClaimLostError` if a retry took the key over."""
    held = current_claim.set(claim)
    try:
        return command(message)
    finally:
        current_claim.reset(held)


class ClaimLostError(ConflictError):
    """A retry took this request's Idempotency-Key over before its events were written."""

    code = "idempotency_in_progress"

    def __init__(self) -> None:
        super().__init__(
            "A retry with this Idempotency-Key took it over; this request wrote nothing."
        )


_MARK_APPLIED = (
    "UPDATE idempotency_keys SET applied = true"
    " WHERE user_id = %s AND key = %s AND claim = %s RETURNING 1"
)


class ClaimCheckingRecorder(ArrayInsertRecorder):
    """The event store's PostgreSQL recorder (`array_recorder.py`), marking the current
    claim applied (or refusing the write when the claim was taken over) in the events'
    transaction."""

    def _insert_events(
        self, curs: Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        claim = current_claim.get()
        if claim is None or not stored_events:
            return
        curs.execute(_MARK_APPLIED, (claim.user_id, claim.key, claim.token))
        if curs.fetchone() is None:  # the fetch syncs the pipeline: one round trip more
            raise ClaimLostError
