"""Restoring a backup archive into the event store: check, load, rebuild, report.

1. **Plan** (the dry run): every check of the archive (`archive.read_events`), the store's
   event count (a store with events is replaced only when forced), and, with `until`,
   how many events fall at or before that moment.
2. **Maintenance**: a restore holds an advisory lock (one restore at a time) and raises
   the maintenance flag: API processes answer 503, and the events table refuses every
   other writer (see `maintenance.py`). It then waits until every API process has read the
   flag (they read it at least once a second) before it changes anything.
3. **Load**, in one transaction, so that a failure leaves the store as it was: lock the
   events table against writers; if forced, write a safety backup of what is there (from
   the same snapshot, so nothing committed can slip between it and the removal), then
   empty the events and snapshots tables; copy the archive's rows in, in batches,
   positions and versions as they were (stopping at the first event after `until`); move
   the position sequence and each resource's id sequence past what was restored; forget
   stored idempotent responses (they describe the replaced history).
4. **Read models**: rebuilt by the caller's `rebuild_read_models` (commands do not know the
   projections), again from scratch if the database hiccups. If that still fails the
   events stay restored and maintenance stays on, so no one reads half-built read models;
   the error says how to finish by hand.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import Mapper, PersistenceError
from psycopg import sql

from timetracker.backups.archive import (
    EVENTS_TABLE,
    ArchiveError,
    Manifest,
    Progress,
    Row,
    dump,
    encode_row,
    read_events,
    read_manifest,
)
from timetracker.backups.directory import BackupDirectory
from timetracker.commands import maintenance
from timetracker.commands.ids import KINDS, sequence_name
from timetracker.domain.values import aggregate_id

log = logging.getLogger(__name__)

RESTORE_LOCK_KEY = 7_410_102  # advisory lock: one restore at a time, across processes
LOCK_TIMEOUT = "60s"  # for the events table: in-flight writes and backups finish first
SNAPSHOTS_TABLE = "timetracking_snapshots"
DERIVED_TABLES = ("idempotency_keys",)  # stored answers that describe the replaced history
REBUILD_ATTEMPTS = 3  # a replay starts from scratch each time, so it can simply run again

PhaseProgress = Callable[[str, int, int], None]  # (phase, done, total)
RebuildReadModels = Callable[[PhaseProgress], dict[str, int]]  # events replayed per read model


class StoreNotEmptyError(Exception):
    """The store has events and the restore was not forced."""


class RestoreRunningError(Exception):
    """Another restore holds the restore lock."""


class RestoreIncompleteError(Exception):
    """The events were restored but the read models were not rebuilt (maintenance stays on)."""


@dataclass(frozen=True)
class RestorePlan:
    """What a restore of `archive` would do (the dry run's answer)."""

    archive: Path
    manifest: Manifest
    events_in_store: int
    force: bool
    until: datetime | None
    events_to_restore: int
    last_position: int
    events_sha256: str  # of the events to restore: what the load must match before commit

    def as_json(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {
            "archive": self.archive.name,
            "format_version": self.manifest.format_version,
            "created_at": self.manifest.as_json()["created_at"],
            "events_in_archive": self.manifest.event_count,
            "streams_in_archive": self.manifest.stream_count,
            "events_sha256": self.manifest.events_sha256,
            "events_in_store": self.events_in_store,
            "until": None if self.until is None else _rfc3339(self.until),
            "events_to_restore": self.events_to_restore,
            "last_position": self.last_position,
            "replaces_store": self.events_in_store > 0,
        }


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did."""

    plan: RestorePlan
    events: int
    streams: int
    last_position: int
    events_sha256: str
    ids: dict[str, int]
    safety_backup: Path | None
    read_models: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {
            "archive": self.plan.archive.name,
            "until": None if self.plan.until is None else _rfc3339(self.plan.until),
            "events": self.events,
            "streams": self.streams,
            "last_position": self.last_position,
            "events_sha256": self.events_sha256,
            "max_ids": self.ids,
            "safety_backup": None if self.safety_backup is None else self.safety_backup.name,
            "read_models": self.read_models,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Loaded:
    """What the load transaction wrote."""

    events: int
    streams: int
    last_position: int
    events_sha256: str
    ids: dict[str, int]


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class StateReader:
    """Reads the few fields a restore needs out of stored events' state."""

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self.mapper = mapper
        # Without a cipher or compressor, state is the JSON itself: parse only that.
        self._plain = mapper.cipher is None and mapper.compressor is None

    def decode(self, state: bytes) -> dict[str, Any]:
        """An event's attributes, decoded as the application decodes them."""
        return self._decoded(state)

    def _decoded(self, state: bytes) -> dict[str, Any]:
        if self.mapper.cipher is not None:
            state = self.mapper.cipher.decrypt(state)
        if self.mapper.compressor is not None:
            state = self.mapper.compressor.decompress(state)
        decoded: dict[str, Any] = self.mapper.transcoder.decode(state)
        return decoded

    def timestamp(self, state: bytes) -> datetime:
        """When the event happened."""
        moment: datetime = self._decoded(state)["timestamp"]
        return moment

    def number(self, state: bytes) -> int | None:
        """The public id a creation event records, if any."""
        value = (orjson.loads(state) if self._plain else self._decoded(state)).get("number")
        return value if isinstance(value, int) else None


class _Cut:
    """Keeps the longest prefix of the log whose events all happened at or before `until`."""

    def __init__(self, reader: StateReader, until: datetime | None) -> None:
        self.reader = reader
        self.until = until
        self.reached = False

    def keep(self, rows: list[Row]) -> list[Row]:
        if self.until is None:
            return rows
        if self.reached:
            return []
        for index, row in enumerate(rows):
            try:
                moment = self.reader.timestamp(row[4])
            except (KeyError, TypeError, ValueError):
                raise ArchiveError(f"The event at position {row[0]} has no timestamp.") from None
            if moment > self.until:
                self.reached = True
                return rows[:index]
        return rows


class _Ids:
    """The highest public id of each resource kind among the restored creation events."""

    def __init__(self, reader: StateReader) -> None:
        self.reader = reader
        self.highest = dict.fromkeys(KINDS, 0)
        self._kind_of_topic: dict[str, str | None] = {}

    def add(self, rows: Iterable[Row]) -> None:
        for _, originator_id, version, topic, state in rows:
            if version != 1:
                continue
            number = self.reader.number(state)
            if number is None:
                continue
            if topic not in self._kind_of_topic:
                # An aggregate's id derives from its kind and number: find the kind once
                # per event class.
                self._kind_of_topic[topic] = next(
                    (k for k in KINDS if str(aggregate_id(k, number)) == originator_id), None
                )
            kind = self._kind_of_topic[topic]
            if kind is not None and number > self.highest[kind]:
                self.highest[kind] = number


def _events(count: int) -> str:
    return f"{count:,} event" + ("" if count == 1 else "s")


def _phase(progress: PhaseProgress | None, name: str) -> Progress | None:
    if progress is None:
        return None
    return lambda done, total: progress(name, done, total)


def _count_events(cursor: psycopg.Cursor[Any]) -> int:
    cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(EVENTS_TABLE)))
    row = cursor.fetchone()
    assert row is not None
    return int(row[0])


class Restorer:
    """Restores archives into one PostgreSQL event store."""

    def __init__(
        self,
        conninfo: str,
        mapper: Mapper[UUID],
        backups: BackupDirectory,
        rebuild_read_models: RebuildReadModels,
    ) -> None:
        self.conninfo = conninfo
        self.reader = StateReader(mapper)
        self.backups = backups
        self.rebuild_read_models = rebuild_read_models

    def events_in_store(self) -> int:
        """How many events the store holds."""
        with psycopg.connect(self.conninfo) as conn, conn.cursor() as cursor:
            return _count_events(cursor)

    def plan(
        self,
        archive: Path,
        until: datetime | None = None,
        force: bool = False,
        progress: PhaseProgress | None = None,
    ) -> RestorePlan:
        """The dry run: check every byte of the archive and what restoring it would do.

        Raises ArchiveError (with the reason) for an unsound archive, StoreNotEmptyError
        when the store has events and `force` is not set. Changes nothing.
        """
        cut = _Cut(self.reader, until)
        kept = last = 0
        digest = hashlib.sha256()
        verifying = read_events(
            archive, _phase(progress, "verify"), decode_state=self.reader.decode
        )
        for batch in verifying:
            rows = cut.keep(batch)
            if rows:
                kept += len(rows)
                last = rows[-1][0]
                if until is not None:
                    digest.update(b"".join([encode_row(row) for row in rows]))
        manifest = read_manifest(archive)
        events_sha256 = manifest.events_sha256 if until is None else digest.hexdigest()
        present = self.events_in_store()
        if present and not force:
            raise StoreNotEmptyError(
                f"The event store holds {_events(present)}: restoring replaces them. Force it"
                " (a safety backup of them is taken first) or restore into an empty store."
            )
        return RestorePlan(archive, manifest, present, force, until, kept, last, events_sha256)

    def restore(self, plan: RestorePlan, progress: PhaseProgress | None = None) -> RestoreReport:
        """Restore a planned archive (see the module's docstring for the steps)."""
        started = time.monotonic()
        with psycopg.connect(self.conninfo, autocommit=True) as lock_conn:
            locked = lock_conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (RESTORE_LOCK_KEY,)
            ).fetchone()
            if locked is None or not locked[0]:
                raise RestoreRunningError("Another restore is running.")
            try:
                maintenance.enter(lock_conn, "restore")
                try:
                    time.sleep(maintenance.SETTLE_SECONDS)
                    loaded, safety = self._load(plan, progress)
                except BaseException:
                    maintenance.leave(lock_conn)
                    raise
                try:
                    read_models = self._rebuild(progress or _ignore)
                except Exception as exc:
                    raise RestoreIncompleteError(
                        f"The events are restored, but rebuilding the read models failed ({exc})."
                        " The service stays in maintenance: run `timetracker projections rebuild"
                        " --all`, then `timetracker backup maintenance off`."
                    ) from exc
                maintenance.leave(lock_conn)
            finally:
                lock_conn.execute("SELECT pg_advisory_unlock(%s)", (RESTORE_LOCK_KEY,))
        return RestoreReport(
            plan=plan,
            events=loaded.events,
            streams=loaded.streams,
            last_position=loaded.last_position,
            events_sha256=loaded.events_sha256,
            ids=loaded.ids,
            safety_backup=safety,
            read_models=read_models,
            seconds=time.monotonic() - started,
        )

    def _rebuild(self, progress: PhaseProgress) -> dict[str, int]:
        """Replay every read model; again, from scratch, if the database hiccups."""
        for attempt in range(1, REBUILD_ATTEMPTS + 1):
            try:
                return self.rebuild_read_models(progress)
            except (psycopg.OperationalError, PersistenceError) as exc:
                if attempt == REBUILD_ATTEMPTS:
                    raise
                log.warning("Rebuilding the read models failed (%s); trying again", exc)
                time.sleep(attempt)
        raise AssertionError("unreachable")

    def _load(
        self, plan: RestorePlan, progress: PhaseProgress | None
    ) -> tuple[_Loaded, Path | None]:
        with psycopg.connect(self.conninfo) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction(), conn.cursor() as cursor:
                # Lock before the first query: the snapshot (taken by that query) then
                # holds every write that will ever be committed before the restore.
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                cursor.execute(
                    sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.Identifier(EVENTS_TABLE))
                )
                maintenance.allow_restore_writes(cursor)
                present = _count_events(cursor)
                if present and not plan.force:
                    raise StoreNotEmptyError(
                        f"The event store holds {_events(present)} now; the restore was not forced."
                    )
                safety: Path | None = None
                if present:
                    safety = self.backups.new_path("safety")
                    dump(conn, safety, _phase(progress, "safety backup"))
                self._empty(cursor)
                loaded = self._copy(cursor, plan, progress)
                self._move_sequences(cursor, loaded.last_position, loaded.ids)
        return loaded, safety

    def _empty(self, cursor: psycopg.Cursor[Any]) -> None:
        tables = [EVENTS_TABLE, SNAPSHOTS_TABLE, *DERIVED_TABLES]
        cursor.execute(
            "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NOT NULL",
            (tables,),
        )
        present = [str(row[0]) for row in cursor.fetchall()]
        cursor.execute(
            sql.SQL("TRUNCATE {}").format(
                sql.SQL(", ").join(sql.Identifier(name) for name in present)
            )
        )

    def _copy(
        self, cursor: psycopg.Cursor[Any], plan: RestorePlan, progress: PhaseProgress | None
    ) -> _Loaded:
        cut = _Cut(self.reader, plan.until)
        ids = _Ids(self.reader)
        digest = hashlib.sha256()
        streams: set[str] = set()
        count = last = 0
        load = _phase(progress, "load")
        statement = sql.SQL(
            "COPY {} (notification_id, originator_id, originator_version, topic, state)"
            " FROM STDIN (FORMAT BINARY)"
        ).format(sql.Identifier(EVENTS_TABLE))
        # Every check runs again as the rows are read (the file could have changed since the
        # plan), and what is loaded must be what the plan verified: its SHA-256 is compared
        # before the transaction commits.
        for batch in read_events(plan.archive, decode_state=self.reader.decode):
            rows = cut.keep(batch)
            if rows:
                with cursor.copy(statement) as copy:
                    copy.set_types(["int8", "uuid", "int8", "text", "bytea"])
                    for row in rows:
                        copy.write_row((row[0], UUID(row[1]), row[2], row[3], row[4]))
                ids.add(rows)
                digest.update(b"".join([encode_row(row) for row in rows]))
                streams.update(row[1] for row in rows)
                count += len(rows)
                last = rows[-1][0]
            if load is not None:
                load(count, plan.events_to_restore)
            if cut.reached:
                break
        if digest.hexdigest() != plan.events_sha256 or count != plan.events_to_restore:
            raise ArchiveError(
                "The archive changed since its dry run: the events read for loading are not"
                " the ones verified (SHA-256 or count differs). Nothing was restored."
            )
        return _Loaded(
            events=count,
            streams=len(streams),
            last_position=last,
            events_sha256=digest.hexdigest(),
            ids=ids.highest,
        )

    def _move_sequences(
        self, cursor: psycopg.Cursor[Any], last_position: int, ids: dict[str, int]
    ) -> None:
        """Next positions and ids follow the restored ones (or start at 1)."""
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s, %s)",
            (EVENTS_TABLE, max(last_position, 1), last_position > 0),
        )
        for kind, highest in ids.items():
            cursor.execute(
                "SELECT setval(%s, %s, %s)", (sequence_name(kind), max(highest, 1), highest > 0)
            )


def _ignore(phase: str, done: int, total: int) -> None:
    """Progress nobody watches."""
