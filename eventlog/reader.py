"""The event log read as the record: streams with their positions, pages of the log, past states.

The log is the store's notification log: every event has a position (its notification
id) and every append takes an exclusive lock on the events table, so positions become
visible in order. A reader that remembers the last position it saw and asks for what
comes after never misses an event.

Name claims are bookkeeping for unique names: they never leave this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic
from psycopg import sql

from timetracker.commands.store import EventStore
from timetracker.domain.api_token import ApiToken
from timetracker.domain.client import Client
from timetracker.domain.entry import Entry
from timetracker.domain.events import RecordedCreation, RecordedEvent
from timetracker.domain.kinds import KINDS
from timetracker.domain.project import Project
from timetracker.domain.task import Task
from timetracker.domain.timer import Timer
from timetracker.domain.user import User
from timetracker.domain.values import aggregate_id
from timetracker.domain.webhook import Webhook

# The resource kind of each aggregate shown outside (NameClaim is not among them), from the
# registry of kinds.
RESOURCE_KINDS: dict[type[Aggregate], str] = {
    resolve_topic(kind.aggregate): kind.name for kind in KINDS
}
# Attributes of an event that are not its payload (or must never be shown: token_hash,
# password_hash).
_NOT_DATA = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "actor",
        "request_id",
        "number",
        "token_hash",
        "password_hash",
        "secret",
    }
)
# Attributes added in a later event version, shown only when set (an imported entry's key).
_SHOWN_WHEN_SET = frozenset({"external_key"})
IDENTITY_CACHE_SIZE = 100_000
MAX_SCAN = 5_000  # log events one feed page reads at most, visible or not
SCAN_BATCH = 500


@dataclass(frozen=True)
class EventType:
    """One kind of event as the API names it: `EntryEdited` on a `time_entry`."""

    name: str
    kind: str
    topic: str


def _event_types() -> dict[str, EventType]:
    types: dict[str, EventType] = {}
    for aggregate, kind in RESOURCE_KINDS.items():
        for attribute, value in vars(aggregate).items():
            if isinstance(value, type) and issubclass(value, RecordedEvent | RecordedCreation):
                name = f"{aggregate.__name__}{attribute}"
                types[name] = EventType(name, kind, get_topic(value))
    return types


EVENT_TYPES = _event_types()
_BY_TOPIC = {t.topic: t for t in EVENT_TYPES.values()}
RESOURCES = tuple(RESOURCE_KINDS.values())


@dataclass(frozen=True)
class Identity:
    """Who a stream is about: its resource kind and public id, and the user owning it."""

    kind: str
    number: int
    owner: int | None  # the user of an entry, timer or token; the user themself for a user
    username: str | None = None  # users only


@dataclass(frozen=True)
class Actor:
    """Who caused an event."""

    user_id: int | None
    username: str | None
    token_prefix: str | None


@dataclass(frozen=True)
class Logged:
    """One event with its position in the log."""

    position: int
    type: EventType
    event: Aggregate.Event

    @property
    def at(self) -> datetime:
        return self.event.timestamp

    @property
    def version(self) -> int:
        return self.event.originator_version

    @property
    def request_id(self) -> str:
        return str(getattr(self.event, "request_id", ""))

    @property
    def actor_user_id(self) -> int | None:
        actor = getattr(self.event, "actor", None) or {}
        user_id = actor.get("user_id")
        return None if user_id is None else int(user_id)

    def data(self) -> dict[str, Any]:
        """What the event recorded, besides who, when and which resource."""
        data = {
            f.name: getattr(self.event, f.name)
            for f in dataclasses.fields(self.event)  # type: ignore[arg-type]
            if f.name not in _NOT_DATA
        }
        for name in _SHOWN_WHEN_SET:
            if name in data and data[name] is None:
                del data[name]
        return data


@dataclass(frozen=True)
class Record:
    """An event as the feed and the export show it."""

    logged: Logged
    identity: Identity
    actor: Actor


@dataclass(frozen=True)
class Version:
    """One version of a resource: the event that made it and what it changed."""

    logged: Logged
    actor: Actor
    changes: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Page:
    """A page of the log: what the reader may see, and where to go on from."""

    records: list[Record]
    next_cursor: int
    has_more: bool


def tracked_state(aggregate: Aggregate) -> dict[str, Any]:
    """The fields of a resource whose changes its history shows (by default, for a kind
    without a case here, its public attributes)."""
    match aggregate:
        case Entry():
            return {
                "user_id": aggregate.user_id,
                **aggregate.current(),
                "source": aggregate.source,
                "deleted": aggregate.deleted,
            }
        case Project():
            return {**aggregate.current(), "archived_at": aggregate.archived_at}
        case Task():
            return {
                "project_id": aggregate.project_id,
                **aggregate.current(),
                "deleted": aggregate.deleted,
            }
        case Client():
            return aggregate.current()
        case Timer():
            return {"user_id": aggregate.user_id, "running_entry_id": aggregate.running_entry_id}
        case User():
            return {
                "username": aggregate.username,
                "email": aggregate.email,
                "full_name": aggregate.full_name,
                "role": aggregate.role,
                "is_active": aggregate.is_active,
            }
        case ApiToken():
            return {
                "user_id": aggregate.user_id,
                "name": aggregate.name,
                "prefix": aggregate.prefix,
                "scopes": list(aggregate.scopes),
                "expires_at": aggregate.expires_at,
                "revoked_at": aggregate.revoked_at,
            }
        case Webhook():
            return {
                "owner_id": aggregate.owner_id,
                **aggregate.current(),
                "disabled_reason": aggregate.disabled_reason,
                "deleted": aggregate.deleted,
            }
    return {name: value for name, value in vars(aggregate).items() if not name.startswith("_")}


def _identity(event: Aggregate.Event, kind: str) -> Identity:
    """The identity a creation event gives its stream."""
    if kind == "timer":
        user_id = int(event.user_id)  # type: ignore[attr-defined]
        return Identity(kind, user_id, user_id)
    number = int(event.number)  # type: ignore[attr-defined]
    if kind == "webhook":
        return Identity(kind, number, int(event.owner_id))  # type: ignore[attr-defined]
    if kind == "user":
        return Identity(kind, number, number, str(event.username))  # type: ignore[attr-defined]
    owner = getattr(event, "user_id", None)
    return Identity(kind, number, None if owner is None else int(owner))


class EventLog:
    """Reads the PostgreSQL event store: the log in order, one stream, a stream's past."""

    def __init__(self, store: EventStore) -> None:
        recorder = store.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            raise TypeError("The event log reader needs the PostgreSQL event store.")
        self.store = store
        self._recorder = recorder
        self._table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
        # Creation events never change, so what they tell about a stream can be kept.
        self._identities: dict[UUID, Identity] = {}

    def head(self) -> int:
        """The position of the last event in the store (0 when empty)."""
        return int(self._recorder.max_notification_id() or 0)

    def _decode(self, stored: StoredEvent) -> Aggregate.Event:
        # Every event in this store is an aggregate event: it has a time and can be folded.
        return cast(Aggregate.Event, self.store.mapper.to_domain_event(stored))

    def stream(self, originator_id: UUID, upto: int | None = None) -> list[Logged]:
        """Every event of one aggregate (up to position `upto`), in version order."""
        query = sql.SQL(
            "SELECT originator_id, originator_version, topic, state, notification_id FROM {}"
            " WHERE originator_id = %s AND (%s::bigint IS NULL OR notification_id <= %s)"
            " ORDER BY originator_version"
        ).format(self._table)
        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(query, (originator_id, upto, upto))
            rows = cursor.fetchall()
        logged: list[Logged] = []
        for row in rows:
            event_type = _BY_TOPIC.get(row["topic"])
            if event_type is None:
                continue
            stored = StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            logged.append(Logged(int(row["notification_id"]), event_type, self._decode(stored)))
        return logged

    def state_at(self, originator_id: UUID, upto: int | None = None) -> Aggregate | None:
        """The aggregate as it was at position `upto` (None if it did not exist yet)."""
        aggregate: Any = None
        for logged in self.stream(originator_id, upto):
            aggregate = logged.event.mutate(aggregate)
        return aggregate if isinstance(aggregate, Aggregate) else None

    def history(self, originator_id: UUID, upto: int) -> list[Version]:
        """Each version of a resource up to position `upto`, with what its event changed."""
        stream = self.stream(originator_id, upto)
        actors = self.actors(stream)
        versions: list[Version] = []
        aggregate: Any = None
        before: dict[str, Any] = {"deleted": False}  # what a creation starts from
        for logged in stream:
            aggregate = logged.event.mutate(aggregate)
            after = tracked_state(aggregate)
            changes = {
                name: {"from": before.get(name), "to": value}
                for name, value in after.items()
                if before.get(name) != value
            }
            versions.append(Version(logged, actors[logged.position], changes))
            before = after
        return versions

    def current_history(self, originator_id: UUID) -> tuple[int, list[Version]]:
        """The store's head and every version of a resource up to it."""
        head = self.head()
        return head, self.history(originator_id, head)

    def identities(self, originator_ids: Iterable[UUID]) -> dict[UUID, Identity]:
        """What each stream is (from its creation event); streams of hidden kinds are left out.

        The answer is built here, not read back from the cache, which another thread may
        empty meanwhile.
        """
        found: dict[UUID, Identity] = {}
        missing: list[UUID] = []
        for stream in set(originator_ids):
            known = self._identities.get(stream)
            if known is None:
                missing.append(stream)
            else:
                found[stream] = known
        if not missing:
            return found
        query = sql.SQL(
            "SELECT originator_id, originator_version, topic, state FROM {}"
            " WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(self._table)
        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(query, (missing,))
            rows = cursor.fetchall()
        for row in rows:
            event_type = _BY_TOPIC.get(row["topic"])
            if event_type is not None:
                stored = StoredEvent(row["originator_id"], 1, row["topic"], bytes(row["state"]))
                found[row["originator_id"]] = _identity(self._decode(stored), event_type.kind)
        if len(self._identities) + len(found) > IDENTITY_CACHE_SIZE:
            self._identities.clear()
        self._identities.update(found)
        return found

    def usernames(self, user_ids: Iterable[int]) -> dict[int, str]:
        """Usernames by user id (a username never changes once registered)."""
        by_stream = {aggregate_id("user", u): u for u in set(user_ids)}
        found = self.identities(by_stream)
        return {by_stream[s]: i.username for s, i in found.items() if i.username is not None}

    def actors(self, logged: Sequence[Logged]) -> dict[int, Actor]:
        """The actor of each event, by position, with the user's name."""
        names = self.usernames(u for item in logged if (u := item.actor_user_id) is not None)
        result: dict[int, Actor] = {}
        for item in logged:
            actor = getattr(item.event, "actor", None) or {}
            user_id = item.actor_user_id
            result[item.position] = Actor(
                user_id=user_id,
                username=None if user_id is None else names.get(user_id),
                token_prefix=actor.get("token_prefix"),
            )
        return result

    def read(
        self, after: int, limit: int, topics: Sequence[str], upto: int | None = None
    ) -> list[Logged]:
        """Up to `limit` events after position `after` (up to `upto`) with one of `topics`."""
        notifications: Sequence[Notification] = self._recorder.select_notifications(
            start=after, limit=limit, stop=upto, topics=list(topics), inclusive_of_start=False
        )
        return [
            Logged(n.id, _BY_TOPIC[n.topic], self._decode(n))
            for n in notifications
            if n.topic in _BY_TOPIC
        ]

    def read_all(
        self, after: int, limit: int, kinds: Container[str] | None = None
    ) -> tuple[list[Logged], int]:
        """Up to `limit` events after position `after` (only those of `kinds` of resource
        decoded and answered, if given), and the last position read (name claims, never
        shown, are read past and left out)."""
        notifications: Sequence[Notification] = self._recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        logged = [
            Logged(n.id, event_type, self._decode(n))
            for n in notifications
            if (event_type := _BY_TOPIC.get(n.topic)) is not None
            and (kinds is None or event_type.kind in kinds)
        ]
        return logged, notifications[-1].id if notifications else after

    def records(self, logged: Sequence[Logged]) -> list[Record]:
        """The events with their streams' identities and their actors."""
        identities = self.identities(item.event.originator_id for item in logged)
        actors = self.actors(logged)
        return [
            Record(item, identities[item.event.originator_id], actors[item.position])
            for item in logged
            if item.event.originator_id in identities
        ]

    def page(
        self,
        after: int,
        limit: int,
        topics: Sequence[str],
        visible: Callable[[Logged, Identity], bool],
    ) -> Page:
        """Up to `limit` visible events after `after`, in log order.

        Reads at most `MAX_SCAN` events: a reader who may see few of them gets a short (even
        empty) page whose `next_cursor` still moves past what was read, so the next page
        goes on from there and nothing in between is skipped.
        """
        cursor = after
        found: list[Logged] = []
        scanned = 0
        while scanned < MAX_SCAN:
            batch = self.read(cursor, SCAN_BATCH, topics)
            if not batch:
                return Page(self.records(found), cursor, has_more=False)
            identities = self.identities(item.event.originator_id for item in batch)
            for item in batch:
                identity = identities.get(item.event.originator_id)
                if identity is not None and visible(item, identity):
                    found.append(item)
                cursor = item.position
                if len(found) == limit:
                    return Page(self.records(found), cursor, has_more=True)
            scanned += len(batch)
            if len(batch) < SCAN_BATCH:
                return Page(self.records(found), cursor, has_more=False)
        return Page(self.records(found), cursor, has_more=True)
