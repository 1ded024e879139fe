"""The event-store application every command runs in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    RecordConflictError,
    Recording,
    Transcoder,
    UUIDAsHex,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import Environment, get_topic

from timetracker.commands.errors import (
    NotFoundError,
    VersionMismatchError,
    WriteContentionError,
)
from timetracker.commands.ids import IdSequences, MemoryIdSequences, PostgresIdSequences
from timetracker.commands.key_claims import ClaimCheckingRecorder
from timetracker.commands.maintenance import create_write_guard
from timetracker.commands.schema import create_service_tables
from timetracker.commands.transcoder import FastJSONTranscoder
from timetracker.domain.project import Project
from timetracker.domain.timer import Timer
from timetracker.domain.values import aggregate_id

A = TypeVar("A", bound=Aggregate)

log = logging.getLogger(__name__)

MAX_WRITE_ATTEMPTS = 5
# Aggregates whose streams grow for as long as the service runs: a user's timer gets two
# events per timer run, a busy project an event per change.
SNAPSHOTTED: tuple[type[Aggregate], ...] = (Timer, Project)
SNAPSHOT_INTERVAL = "SNAPSHOT_INTERVAL"  # events between snapshots; 0 turns them off
DEFAULT_SNAPSHOT_INTERVAL = 100


def snapshot_interval(env: Mapping[str, str]) -> int:
    """The configured snapshot interval (`SNAPSHOT_INTERVAL`, default 100; 0 = off).

    The application's environment also finds it as `TIMETRACKING_SNAPSHOT_INTERVAL`.
    """
    return int(env.get(SNAPSHOT_INTERVAL) or DEFAULT_SNAPSHOT_INTERVAL)


class EventStore(Application[UUID]):
    """The PostgreSQL event store (in-memory when no persistence is configured).

    All aggregates share one application, so the whole history is one ordered log:
    projections, the change feed and backups follow a single sequence of positions.
    """

    name = "TimeTracking"
    log_section_size = 500

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.snapshot_interval = snapshot_interval(self.env)
        # Aggregates never snapshotted load from their events alone: asking the snapshot
        # table first would cost a query, and a pooled connection, for nothing.
        self.events_only = Repository(self.events)
        self.ids: IdSequences
        if isinstance(self.recorder, PostgresApplicationRecorder):
            sequences = PostgresIdSequences(self.recorder.datastore)
            sequences.create()
            self.ids = sequences
            create_write_guard(self.recorder.datastore, self.recorder.events_table_name)
            create_service_tables(self.recorder.datastore)
        else:
            self.ids = MemoryIdSequences()

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        """The library's environment: the recorder that checks Idempotency-Key claims (on
        PostgreSQL), and the snapshot store on unless the interval is 0."""
        environment = super().construct_env(name, env)
        if environment.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
            environment.setdefault("APPLICATION_RECORDER_TOPIC", get_topic(ClaimCheckingRecorder))
        if snapshot_interval(environment) > 0:
            environment["IS_SNAPSHOTTING_ENABLED"] = "y"
        return environment

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's `save`, collecting the service's aggregates without its runtime
        `Protocol` checks: two `isinstance` calls against protocols for every aggregate
        saved, which a batch of 1,000 new entries paid 12 ms for (a fifth of saving them).
        Anything else (a bare event, None) goes through the library's own collection."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's deprecated hook, as it does
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot a growing aggregate at every `snapshot_interval`-th version.

        The library's own version of this reads `snapshotting_intervals`, a class attribute;
        here the interval is each store's setting. As in the library, the snapshot is taken
        after the events have committed, from the recorded history (`take_snapshot` re-reads
        the aggregate). Snapshots are derived data, so failing to store one is logged, never
        raised: the write has succeeded, and an error here would make `write()` run the
        command a second time.
        """
        if self.snapshots is None or self.snapshot_interval <= 0:
            return
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            if not isinstance(aggregate, SNAPSHOTTED):
                continue
            if event.originator_version % self.snapshot_interval:
                continue
            try:
                self.take_snapshot(event.originator_id, version=event.originator_version)
            except Exception:  # derived data: the committed write stands
                log.warning(
                    "Could not snapshot %s at version %d",
                    event.originator_id,
                    event.originator_version,
                    exc_info=True,
                )

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON format, read with orjson (projections decode every event)."""
        return service_transcoder()

    def load(self, cls: type[A], kind: str, number: int) -> A:
        """The aggregate behind a public id, or NotFoundError."""
        try:
            aggregate: Any = self._repository_of(cls).get(aggregate_id(kind, number))
        except AggregateNotFoundError:
            raise NotFoundError(kind, number) from None
        if not isinstance(aggregate, cls):
            raise NotFoundError(kind, number)
        return aggregate

    def load_optional(self, cls: type[A], aggregate_uuid: Any) -> A | None:
        """The aggregate with this UUID, or None."""
        try:
            aggregate: Any = self._repository_of(cls).get(aggregate_uuid)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def _repository_of(self, cls: type[Aggregate]) -> Repository[UUID]:
        """Where an aggregate of `cls` loads from: through its snapshots when it may have any."""
        if self.snapshots is not None and issubclass(cls, SNAPSHOTTED):
            return self.repository
        return self.events_only

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


def service_transcoder() -> Transcoder:
    """The transcoder of the service's stored events (`construct_transcoder`), for readers
    that have no application at hand (a backup being verified)."""
    transcoder = FastJSONTranscoder()
    # The library's own (`Application.register_transcodings`); this store adds none.
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder
