"""The event-store application every command runs in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError, Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder

from timetracker.commands.errors import (
    NotFoundError,
    VersionMismatchError,
    WriteContentionError,
)
from timetracker.commands.ids import IdSequences, MemoryIdSequences, PostgresIdSequences
from timetracker.commands.transcoder import FastJSONTranscoder
from timetracker.domain.values import aggregate_id

A = TypeVar("A", bound=Aggregate)

MAX_WRITE_ATTEMPTS = 5


class EventStore(Application[UUID]):
    """The PostgreSQL event store (in-memory when no persistence is configured).

    All aggregates share one application, so the whole history is one ordered log:
    projections, the change feed and backups follow a single sequence of positions.
    """

    name = "TimeTracking"
    log_section_size = 500

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.ids: IdSequences
        if isinstance(self.recorder, PostgresApplicationRecorder):
            sequences = PostgresIdSequences(self.recorder.datastore)
            sequences.create()
            self.ids = sequences
        else:
            self.ids = MemoryIdSequences()

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON format, read with orjson (projections decode every event)."""
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def load(self, cls: type[A], kind: str, number: int) -> A:
        """The aggregate behind a public id, or NotFoundError."""
        try:
            aggregate: Any = self.repository.get(aggregate_id(kind, number))
        except AggregateNotFoundError:
            raise NotFoundError(kind, number) from None
        if not isinstance(aggregate, cls):
            raise NotFoundError(kind, number)
        return aggregate

    def load_optional(self, cls: type[A], aggregate_uuid: Any) -> A | None:
        """The aggregate with this UUID, or None."""
        try:
            aggregate: Any = self.repository.get(aggregate_uuid)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def write(self, decide: Callable[[], list[Aggregate]]) -> int | None:
        """Run `decide` and save what it returns in one transaction; retry on a conflict.

        `decide` loads fresh aggregates and calls domain methods on them. When another writer
        appended to one of them first, the store refuses the save and `decide` runs again on
        the new state. Returns the position of the last event written (None if none was).
        """
        for _ in range(MAX_WRITE_ATTEMPTS):
            aggregates = decide()
            try:
                recordings = self.save(*aggregates)
            except RecordConflictError:
                continue
            return recordings[-1].notification.id if recordings else None
        raise WriteContentionError("Too many concurrent changes; try again.")


def check_version(aggregate: Aggregate, expected: int | None) -> None:
    """Refuse the command when `If-Match` named another version than the current one."""
    if expected is not None and aggregate.version != expected:
        raise VersionMismatchError(expected, aggregate.version)
