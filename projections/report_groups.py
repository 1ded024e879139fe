"""The report-groups read model: every version of every entry with the columns reports group
by, and every version of the labels they show (project, client, task and user names, rates,
the user's time zone).

Each row is valid from the log position that made it until the one that replaced it
(`valid_to`, NULL while current), so one table serves today's reports (`valid_to IS NULL`,
through partial indexes) and reports as of any past position (`as_of`) alike.

The read model is split in two, as every read model here is becoming:
- `apply(event, current) -> Change | None`: pure. Given an event and the current facts of
  its aggregate, it says what the aggregate's facts are afterwards (None: it left reports).
  Unit tests call it with no database.
- `ReportGroupsProjection.apply_batch`: the writer. It reads the current facts of the
  aggregates a batch touches, folds the batch through `apply`, then closes the replaced
  versions and inserts the new ones (one UPDATE, one binary COPY).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from psycopg import Cursor

from timetracker.domain.client import Client
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.task import Task
from timetracker.domain.user import DEFAULT_TIMEZONE, User
from timetracker.projections.base import Projection
from timetracker.projections.report_days import (
    DAY_TABLES,
    Contribution,
    day_statements,
    refresh_days,
)
from timetracker.projections.statistics import TableStatistics

EVENTS_TABLE = "timetracking_events"  # the event store's table (the `TimeTracking` app)


@dataclass(frozen=True)
class EntryFacts:
    """What an entry version gives reports and exports."""

    entry_id: int
    user_id: int
    project_id: int
    task_id: int | None
    start_time: datetime
    end_time: datetime | None
    billable: bool
    tags: tuple[str, ...]
    notes: str | None

    @property
    def seconds(self) -> int | None:
        """Whole seconds (None while running), as the entry's `duration_seconds`."""
        if self.end_time is None:
            return None
        return int((self.end_time - self.start_time).total_seconds())


@dataclass(frozen=True)
class LabelFacts:
    """What a project, client, task or user version gives reports: its name, and for a
    project its client and rate, for a client its default rate, for a user its time zone."""

    kind: str  # "project" | "client" | "task" | "user"
    id: int
    name: str
    client_id: int | None = None
    rate: Decimal | None = None
    timezone: str | None = None


Facts = EntryFacts | LabelFacts


@dataclass(frozen=True)
class Change:
    """An aggregate's facts after an event; `facts` None: it no longer counts in reports."""

    facts: Facts | None


def _tags(tags: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in (tags or "").split(",") if t))


def _entry_facts(event: Any) -> EntryFacts:
    fields = event.fields
    return EntryFacts(
        entry_id=int(event.number),
        user_id=int(event.user_id),
        project_id=int(fields["project_id"]),
        task_id=fields["task_id"],
        start_time=fields["start_time"],
        end_time=fields["end_time"],
        billable=bool(fields["billable"]),
        tags=_tags(fields["tags"]),
        notes=fields["notes"],
    )


_ENTRY_FIELDS = ("project_id", "task_id", "start_time", "end_time", "billable", "notes")


def _edited_entry(current: EntryFacts, changes: dict[str, Any]) -> EntryFacts | None:
    values = {name: changes[name]["to"] for name in _ENTRY_FIELDS if name in changes}
    if "tags" in changes:
        values["tags"] = _tags(changes["tags"]["to"])
    return replace(current, **values) if values else None


def _edited_label(current: LabelFacts, changes: dict[str, Any]) -> LabelFacts | None:
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = changes["name"]["to"]
    if current.kind == "project":
        if "client_id" in changes:
            values["client_id"] = changes["client_id"]["to"]
        if "hourly_rate" in changes:
            values["rate"] = changes["hourly_rate"]["to"]
    elif current.kind == "client" and "default_hourly_rate" in changes:
        values["rate"] = changes["default_hourly_rate"]["to"]
    return replace(current, **values) if values else None


def apply(event: DomainEventProtocol[Any], current: Facts | None) -> Change | None:
    """The facts of the event's aggregate after `event`, given those before (`current`);
    None when the event changes nothing reports show. Pure: no I/O."""
    if isinstance(event, Entry.Created | Entry.Restored):
        return Change(_entry_facts(event))
    if isinstance(event, Entry.Deleted):
        return Change(None) if current is not None else None
    if isinstance(event, Project.Created):
        fields = event.fields
        return Change(
            LabelFacts(
                "project", event.number, fields["name"], fields["client_id"], fields["hourly_rate"]
            )
        )
    if isinstance(event, Client.Created):
        fields = event.fields
        return Change(
            LabelFacts("client", event.number, fields["name"], rate=fields["default_hourly_rate"])
        )
    if isinstance(event, Task.Created):
        return Change(LabelFacts("task", event.number, event.fields["name"]))
    if isinstance(event, User.Registered):
        return Change(LabelFacts("user", event.number, event.username, timezone=DEFAULT_TIMEZONE))
    if isinstance(event, User.TimezoneChanged):
        if not isinstance(current, LabelFacts):
            return None
        return Change(replace(current, timezone=event.timezone))
    if isinstance(event, Entry.Edited):
        edited = _edited_entry(current, event.changes) if isinstance(current, EntryFacts) else None
        return None if edited is None else Change(edited)
    if isinstance(event, Project.Updated | Client.Updated | Task.Updated):
        edited_label = (
            _edited_label(current, event.changes) if isinstance(current, LabelFacts) else None
        )
        return None if edited_label is None else Change(edited_label)
    # Archived projects and clients and deleted tasks keep their names in reports.
    return None


HANDLED = (
    Entry.Created,
    Entry.Restored,
    Entry.Edited,
    Entry.Deleted,
    Project.Created,
    Project.Updated,
    Client.Created,
    Client.Updated,
    Task.Created,
    Task.Updated,
    User.Registered,
    User.TimezoneChanged,
)
_CREATIONS = (
    Entry.Created,
    Project.Created,
    Client.Created,
    Task.Created,
    User.Registered,
)


@dataclass(frozen=True)
class Version:
    """A row to write: an aggregate's facts valid from one position (to another, if closed)."""

    uuid: UUID
    valid_from: int
    facts: Facts
    valid_to: int | None = None


def fold(
    events: Sequence[DomainEventProtocol[Any]],
    positions: Sequence[int],
    stored: dict[UUID, tuple[int, Facts]],
) -> tuple[list[Version], list[Version]]:
    """A batch's writes, given the current stored versions of the aggregates it touches
    (uuid: (valid_from, facts)): the stored versions it closes, and its new versions (some
    already closed by a later event of the batch). Pure."""
    current: dict[UUID, Version] = {
        uuid: Version(uuid, valid_from, facts) for uuid, (valid_from, facts) in stored.items()
    }
    closed: list[Version] = []
    new: dict[tuple[UUID, int], Version] = {}
    for event, position in zip(events, positions, strict=True):
        uuid = event.originator_id
        before = current.get(uuid)
        change = apply(event, None if before is None else before.facts)
        if change is None:
            continue
        if before is not None:
            ended = replace(before, valid_to=position)
            if (uuid, before.valid_from) in new:
                new[(uuid, before.valid_from)] = ended
            else:
                closed.append(ended)
            del current[uuid]
        if change.facts is not None:
            current[uuid] = new[(uuid, position)] = Version(uuid, position, change.facts)
    return closed, list(new.values())


_ENTRY_COLUMNS = (
    "entry_uuid, valid_from, valid_to, entry_id, user_id, project_id, task_id, start_time,"
    " end_time, seconds, billable, tags, notes"
)
_LABEL_COLUMNS = "label_uuid, valid_from, valid_to, kind, id, name, client_id, rate, timezone"


class ReportGroupsProjection(Projection):
    """Writes the versions `apply` decides (see the module)."""

    name = "report_groups"
    tables = ("report_entries", "report_labels", *DAY_TABLES)

    def __init__(self) -> None:
        # A rebuild or a replay fills these from empty: their statistics are kept up here.
        self.entry_statistics = TableStatistics("report_entries")
        self.day_statistics = TableStatistics("report_day_sums")

    def create_statements(self) -> list[str]:
        columns = "(user_id, project_id, task_id, billable, seconds, end_time, tags)"
        return [
            """
            CREATE TABLE IF NOT EXISTS report_entries (
                entry_uuid uuid NOT NULL,
                valid_from bigint NOT NULL,
                valid_to bigint,
                entry_id integer NOT NULL,
                user_id integer NOT NULL,
                project_id integer NOT NULL,
                task_id integer,
                start_time timestamptz NOT NULL,
                end_time timestamptz,
                seconds bigint,
                billable boolean NOT NULL,
                tags text[] NOT NULL,
                notes text,
                PRIMARY KEY (entry_uuid, valid_from)
            )
            """,
            # An entry's open version is found through the primary key (an entry has a few
            # versions); an index of its own cost every new version one more insert.
            "DROP INDEX IF EXISTS report_entries_open_idx",
            # Today's reports: the current versions only, with every grouping column, so a
            # window is an index-only range scan.
            "CREATE INDEX IF NOT EXISTS report_entries_current_start_idx ON report_entries"
            f" (start_time) INCLUDE {columns} WHERE valid_to IS NULL",
            "CREATE INDEX IF NOT EXISTS report_entries_current_user_idx ON report_entries"
            f" (user_id, start_time) INCLUDE {columns} WHERE valid_to IS NULL",
            # Reports as of a past position.
            "CREATE INDEX IF NOT EXISTS report_entries_start_idx"
            " ON report_entries (start_time, valid_from)",
            "CREATE INDEX IF NOT EXISTS report_entries_user_start_idx"
            " ON report_entries (user_id, start_time)",
            """
            CREATE TABLE IF NOT EXISTS report_labels (
                label_uuid uuid NOT NULL,
                valid_from bigint NOT NULL,
                valid_to bigint,
                kind text NOT NULL,
                id integer NOT NULL,
                name text NOT NULL,
                client_id integer,
                rate numeric,
                timezone text,
                PRIMARY KEY (label_uuid, valid_from)
            )
            """,
            "CREATE INDEX IF NOT EXISTS report_labels_open_idx"
            " ON report_labels (label_uuid) WHERE valid_to IS NULL",
            "CREATE UNIQUE INDEX IF NOT EXISTS report_labels_current_idx"
            " ON report_labels (kind, id) WHERE valid_to IS NULL",
            "CREATE INDEX IF NOT EXISTS report_labels_id_idx"
            " ON report_labels (kind, id, valid_from)",
            *day_statements(),
        ]

    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        self.apply_batch(cursor, [event], _positions(cursor, [event]))

    def apply_batch(
        self,
        cursor: Cursor[Any],
        events: Sequence[DomainEventProtocol[Any]],
        positions: Sequence[int],
    ) -> None:
        handled = [(e, p) for e, p in zip(events, positions, strict=True) if isinstance(e, HANDLED)]
        if not handled:
            return
        created = {e.originator_id for e, _ in handled if isinstance(e, _CREATIONS)}
        wanted = {e.originator_id for e, _ in handled} - created
        closed, new = fold(
            [e for e, _ in handled], [p for _, p in handled], _stored(cursor, wanted)
        )
        _write(cursor, closed, new)
        self.entry_statistics.grew(cursor, len(new))
        touched = _refresh_days(cursor, closed, new)
        self.day_statistics.grew(cursor, touched)


def _refresh_days(cursor: Cursor[Any], closed: list[Version], new: list[Version]) -> int:
    """Bring the day sums up to the batch (see `report_days.py`): its finished entry versions
    taken away (those it closed) and added (those now current); about how many rows it
    wrote."""
    contributions = [
        Contribution(sign, f.user_id, f.project_id, f.start_time, seconds, f.billable)
        for sign, versions in ((-1, closed), (1, new))
        for v in versions
        if v.valid_to is None or sign < 0
        if isinstance(f := v.facts, EntryFacts) and (seconds := f.seconds) is not None
    ]
    labels = [v.facts for v in [*closed, *new] if isinstance(v.facts, LabelFacts)]
    return refresh_days(
        cursor,
        contributions,
        projects={f.id for f in labels if f.kind == "project"},
        clients={f.id for f in labels if f.kind == "client"},
        zones={f.timezone for f in labels if f.kind == "user" and f.timezone},
    )


def _rows(cursor: Cursor[Any]) -> list[tuple[Any, ...]]:
    """Rows as tuples, whatever row factory the runner's connection has."""
    return [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in cursor]


def _positions(cursor: Cursor[Any], events: Sequence[DomainEventProtocol[Any]]) -> list[int]:
    """The log position of each event (looked up by stream and version)."""
    cursor.execute(
        "SELECT k.i, e.notification_id"
        " FROM unnest(%b::uuid[], %b::bigint[]) WITH ORDINALITY AS k(id, version, i)"
        f" JOIN {EVENTS_TABLE} e"
        " ON e.originator_id = k.id AND e.originator_version = k.version",
        ([e.originator_id for e in events], [e.originator_version for e in events]),
    )
    found = {int(row[0]): int(row[1]) for row in _rows(cursor)}
    return [found[i] for i in range(1, len(events) + 1)]


def _stored(cursor: Cursor[Any], uuids: set[UUID]) -> dict[UUID, tuple[int, Facts]]:
    """The current stored versions of these aggregates."""
    if not uuids:
        return {}
    stored: dict[UUID, tuple[int, Facts]] = {}
    cursor.execute(
        f"SELECT {_ENTRY_COLUMNS} FROM report_entries"
        " WHERE entry_uuid = ANY(%b::uuid[]) AND valid_to IS NULL",
        (list(uuids),),
    )
    for row in _rows(cursor):
        stored[row[0]] = (
            row[1],
            EntryFacts(
                entry_id=row[3],
                user_id=row[4],
                project_id=row[5],
                task_id=row[6],
                start_time=row[7],
                end_time=row[8],
                billable=row[10],
                tags=tuple(row[11]),
                notes=row[12],
            ),
        )
    cursor.execute(
        f"SELECT {_LABEL_COLUMNS} FROM report_labels"
        " WHERE label_uuid = ANY(%b::uuid[]) AND valid_to IS NULL",
        (list(uuids),),
    )
    for row in _rows(cursor):
        stored[row[0]] = (row[1], LabelFacts(*row[3:]))
    return stored


def _write(cursor: Cursor[Any], closed: list[Version], new: list[Version]) -> None:
    for table, key, kind in (
        ("report_entries", "entry_uuid", EntryFacts),
        ("report_labels", "label_uuid", LabelFacts),
    ):
        ended = [v for v in closed if isinstance(v.facts, kind)]
        if ended:
            cursor.execute(
                f"UPDATE {table} t SET valid_to = c.valid_to"
                " FROM unnest(%b::uuid[], %b::bigint[], %b::bigint[])"
                " AS c(id, valid_from, valid_to)"
                f" WHERE t.{key} = c.id AND t.valid_from = c.valid_from",
                (
                    [v.uuid for v in ended],
                    [v.valid_from for v in ended],
                    [v.valid_to for v in ended],
                ),
            )
    entries = [v for v in new if isinstance(v.facts, EntryFacts)]
    if entries:
        with cursor.copy(
            f"COPY report_entries ({_ENTRY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(
                [
                    "uuid",
                    "int8",
                    "int8",
                    "int4",
                    "int4",
                    "int4",
                    "int4",
                    "timestamptz",
                    "timestamptz",
                    "int8",
                    "bool",
                    "text[]",
                    "text",
                ]
            )
            for v in entries:
                e = v.facts
                assert isinstance(e, EntryFacts)
                copy.write_row(
                    (
                        v.uuid,
                        v.valid_from,
                        v.valid_to,
                        e.entry_id,
                        e.user_id,
                        e.project_id,
                        e.task_id,
                        e.start_time,
                        e.end_time,
                        e.seconds,
                        e.billable,
                        list(e.tags),
                        e.notes,
                    )
                )
    labels = [v for v in new if isinstance(v.facts, LabelFacts)]
    if labels:
        with cursor.copy(
            f"COPY report_labels ({_LABEL_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(
                ["uuid", "int8", "int8", "text", "int4", "text", "int4", "numeric", "text"]
            )
            for v in labels:
                f = v.facts
                assert isinstance(f, LabelFacts)
                copy.write_row(
                    (
                        v.uuid,
                        v.valid_from,
                        v.valid_to,
                        f.kind,
                        f.id,
                        f.name,
                        f.client_id,
                        f.rate,
                        f.timezone,
                    )
                )
