"""The time-travel read model: the log's clock, and every version of every entry's hours.

Three tables, each keyed by log positions so that "as of position P" is one indexed query:

- `log_clock`: per position, when its event was recorded and the latest time recorded
  up to there (`recorded_by`, which never decreases). The position of a moment T is the
  last position whose `recorded_by` is at most T: the longest stretch of the log recorded
  by T, so an answer as of T never shows anything recorded after T.
- `entry_versions`: what each version of an entry adds to reports (user, project, day,
  seconds, billable), valid from the position that made it until the one that replaced
  it. A report as of P sums the rows valid at P.
- `project_name_versions`: each project's name, valid from / to positions, so a past
  report names projects as they were named then.

The runner hands over each batch's log positions with its events; one event applied on
its own (`apply`) has its position looked up in the events table by (stream, version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from psycopg import Cursor
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.projections.base import Projection
from timetracker.projections.report_rollups import ProjectTotals

EVENTS_TABLE = "timetracking_events"  # the event store's table (the `TimeTracking` app)
_REPORTED = ("project_id", "start_time", "duration_seconds", "billable")


@dataclass(frozen=True)
class EntryVersion:
    """One row of `entry_versions`."""

    entry_uuid: UUID
    entry_id: int
    valid_from: int
    user_id: int
    project_id: int
    day: date
    seconds: int | None
    billable: bool
    valid_to: int | None = None
    stored: bool = False  # already in the table (closing it is an UPDATE)


def _version_from_fields(
    event: DomainEventProtocol[Any], position: int, fields: dict[str, Any]
) -> EntryVersion:
    start, end = fields["start_time"], fields["end_time"]
    return EntryVersion(
        entry_uuid=event.originator_id,
        entry_id=int(event.number),  # type: ignore[attr-defined]
        valid_from=position,
        user_id=int(event.user_id),  # type: ignore[attr-defined]
        project_id=int(fields["project_id"]),
        day=start.date(),
        seconds=None if end is None else int((end - start).total_seconds()),
        billable=bool(fields["billable"]),
    )


class TimeTravelProjection(Projection):
    """Keeps the log clock, entry versions and project name versions (see the module)."""

    name = "time_travel"
    tables = ("log_clock", "entry_versions", "project_name_versions")

    def create_statements(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS log_clock (
                position bigint PRIMARY KEY,
                recorded_at timestamptz NOT NULL,
                recorded_by timestamptz NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS log_clock_recorded_by_idx"
            " ON log_clock (recorded_by, position)",
            """
            CREATE TABLE IF NOT EXISTS entry_versions (
                entry_uuid uuid NOT NULL,
                entry_id integer NOT NULL,
                valid_from bigint NOT NULL,
                valid_to bigint,
                user_id integer NOT NULL,
                project_id integer NOT NULL,
                day date NOT NULL,
                seconds bigint,
                billable boolean NOT NULL,
                PRIMARY KEY (entry_uuid, valid_from)
            )
            """,
            # An entry's open version is found through the primary key, as in report_entries.
            "DROP INDEX IF EXISTS entry_versions_open_idx",
            "CREATE INDEX IF NOT EXISTS entry_versions_day_idx ON entry_versions"
            " (day) INCLUDE (valid_from, valid_to, project_id, seconds, billable)",
            "CREATE INDEX IF NOT EXISTS entry_versions_user_day_idx ON entry_versions"
            " (user_id, day) INCLUDE (valid_from, valid_to, project_id, seconds, billable)",
            """
            CREATE TABLE IF NOT EXISTS project_name_versions (
                project_uuid uuid NOT NULL,
                project_id integer NOT NULL,
                name text NOT NULL,
                valid_from bigint NOT NULL,
                valid_to bigint,
                PRIMARY KEY (project_uuid, valid_from)
            )
            """,
            "CREATE INDEX IF NOT EXISTS project_name_versions_id_idx"
            " ON project_name_versions (project_id, valid_from)",
        ]

    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        self.apply_batch(cursor, [event], _positions(cursor, [event]))

    def apply_batch(
        self,
        cursor: Cursor[Any],
        events: Sequence[DomainEventProtocol[Any]],
        positions: Sequence[int],
    ) -> None:
        if not events:
            return
        _advance_clock(cursor, events, positions)
        _apply_entries(cursor, events, positions)
        _apply_project_names(cursor, events, positions)


def _positions(cursor: Cursor[Any], events: Sequence[DomainEventProtocol[Any]]) -> list[int]:
    """The log position of each event (looked up by stream and version)."""
    cursor.execute(
        "SELECT k.i, e.notification_id"
        " FROM unnest(%b::uuid[], %b::bigint[]) WITH ORDINALITY AS k(id, version, i)"
        f" JOIN {EVENTS_TABLE} e"
        " ON e.originator_id = k.id AND e.originator_version = k.version",
        (
            [e.originator_id for e in events],
            [e.originator_version for e in events],
        ),
    )
    found = {int(row[0]): int(row[1]) for row in _rows(cursor)}
    assert len(found) == len(events), "an event of the batch is not in the store"
    return [found[i] for i in range(1, len(events) + 1)]


def _rows(cursor: Cursor[Any]) -> list[tuple[Any, ...]]:
    """Rows as tuples, whatever row factory the runner's connection has."""
    return [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in cursor]


def clock_rows(
    recorded_by: datetime | None,
    events: Sequence[DomainEventProtocol[Any]],
    positions: Sequence[int],
) -> list[tuple[int, datetime, datetime]]:
    """The `log_clock` rows of a batch: (position, recorded at, latest time recorded up to
    it), given the latest time recorded before the batch (pure)."""
    rows = []
    for event, position in zip(events, positions, strict=True):
        at: datetime = event.timestamp  # type: ignore[attr-defined]
        recorded_by = at if recorded_by is None or at > recorded_by else recorded_by
        rows.append((position, at, recorded_by))
    return rows


def _advance_clock(
    cursor: Cursor[Any], events: Sequence[DomainEventProtocol[Any]], positions: Sequence[int]
) -> None:
    cursor.execute("SELECT recorded_by FROM log_clock ORDER BY position DESC LIMIT 1")
    last = _rows(cursor)
    with cursor.copy(
        "COPY log_clock (position, recorded_at, recorded_by) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "timestamptz", "timestamptz"])
        for row in clock_rows(last[0][0] if last else None, events, positions):
            copy.write_row(row)


def entries_to_look_up(events: Sequence[DomainEventProtocol[Any]]) -> set[UUID]:
    """The entries whose open version a batch changes and does not create (pure): an entry
    created in the batch has no stored version (in a replay, most entries are created and
    changed in the same batch)."""
    created = {e.originator_id for e in events if isinstance(e, Entry.Created)}
    return {
        e.originator_id
        for e in events
        if isinstance(e, Entry.Edited | Entry.Deleted | Entry.Restored)
        and e.originator_id not in created
    }


def fold_entry_versions(
    events: Sequence[DomainEventProtocol[Any]],
    positions: Sequence[int],
    open_versions: dict[UUID, EntryVersion],
) -> tuple[list[EntryVersion], list[EntryVersion]]:
    """A batch as `entry_versions` changes (pure), given the stored open versions of
    `entries_to_look_up`: the stored versions it closes, and the versions it adds, in order
    (some of them closed within the batch already)."""
    current = dict(open_versions)
    # New versions by (entry, valid_from), in order; stored versions this batch closes.
    new: dict[tuple[UUID, int], EntryVersion] = {}
    closed: list[EntryVersion] = []
    for event, position in zip(events, positions, strict=True):
        uuid = event.originator_id
        if isinstance(event, Entry.Created | Entry.Restored):
            version = _version_from_fields(event, position, event.fields)
            current[uuid] = new[(uuid, position)] = version
        elif isinstance(event, Entry.Edited | Entry.Deleted):
            previous = current.pop(uuid, None)
            if previous is None:
                continue
            if isinstance(event, Entry.Edited) and not set(event.changes) & set(_REPORTED):
                current[uuid] = previous  # notes, tags or task: reports are unchanged
                continue
            ended = replace(previous, valid_to=position)
            if previous.stored:
                closed.append(ended)
            else:
                new[(uuid, previous.valid_from)] = ended
            if isinstance(event, Entry.Edited):
                version = _edited(ended, event.changes, position)
                current[uuid] = new[(uuid, position)] = version
    return closed, list(new.values())


def _apply_entries(
    cursor: Cursor[Any], events: Sequence[DomainEventProtocol[Any]], positions: Sequence[int]
) -> None:
    current = _open_versions(cursor, entries_to_look_up(events))
    closed, new = fold_entry_versions(events, positions, current)
    _store_versions(cursor, closed, new)


def _edited(previous: EntryVersion, changes: dict[str, Any], position: int) -> EntryVersion:
    values: dict[str, Any] = {}
    if "project_id" in changes:
        values["project_id"] = int(changes["project_id"]["to"])
    if "start_time" in changes:
        values["day"] = changes["start_time"]["to"].date()
    if "duration_seconds" in changes:
        values["seconds"] = changes["duration_seconds"]["to"]
    if "billable" in changes:
        values["billable"] = bool(changes["billable"]["to"])
    return replace(previous, valid_from=position, valid_to=None, stored=False, **values)


def _open_versions(cursor: Cursor[Any], uuids: set[UUID]) -> dict[UUID, EntryVersion]:
    if not uuids:
        return {}
    cursor.execute(
        "SELECT entry_uuid, entry_id, valid_from, user_id, project_id, day, seconds, billable"
        " FROM entry_versions WHERE entry_uuid = ANY(%b::uuid[]) AND valid_to IS NULL",
        (list(uuids),),
    )
    return {
        row[0]: EntryVersion(
            entry_uuid=row[0],
            entry_id=row[1],
            valid_from=row[2],
            user_id=row[3],
            project_id=row[4],
            day=row[5],
            seconds=row[6],
            billable=row[7],
            stored=True,
        )
        for row in _rows(cursor)
    }


def _store_versions(
    cursor: Cursor[Any], closed: list[EntryVersion], new: list[EntryVersion]
) -> None:
    if closed:
        cursor.execute(
            "UPDATE entry_versions v SET valid_to = c.valid_to"
            " FROM unnest(%b::uuid[], %b::bigint[], %b::bigint[]) AS c(uuid, valid_from, valid_to)"
            " WHERE v.entry_uuid = c.uuid AND v.valid_from = c.valid_from",
            (
                [v.entry_uuid for v in closed],
                [v.valid_from for v in closed],
                [v.valid_to for v in closed],
            ),
        )
    if not new:
        return
    with cursor.copy(
        "COPY entry_versions (entry_uuid, entry_id, valid_from, valid_to, user_id, project_id,"
        " day, seconds, billable) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["uuid", "int4", "int8", "int8", "int4", "int4", "date", "int8", "bool"])
        for v in new:
            copy.write_row(
                (
                    v.entry_uuid,
                    v.entry_id,
                    v.valid_from,
                    v.valid_to,
                    v.user_id,
                    v.project_id,
                    v.day,
                    v.seconds,
                    v.billable,
                )
            )


@dataclass(frozen=True)
class NameVersion:
    """A project's name from `valid_from` on: a row of `project_name_versions`. A rename
    (`renames`) first closes the project's open version at `valid_from`."""

    project_uuid: UUID
    name: str
    valid_from: int
    project_id: int | None  # a rename's is the open version's (looked up as it closes)
    renames: bool = False


def name_versions(
    events: Sequence[DomainEventProtocol[Any]], positions: Sequence[int]
) -> list[NameVersion]:
    """A batch as `project_name_versions` changes, in order (pure)."""
    found = []
    for event, position in zip(events, positions, strict=True):
        if isinstance(event, Project.Created):
            found.append(
                NameVersion(event.originator_id, event.fields["name"], position, event.number)
            )
        elif isinstance(event, Project.Updated) and "name" in event.changes:
            name = event.changes["name"]["to"]
            found.append(NameVersion(event.originator_id, name, position, None, renames=True))
    return found


def _apply_project_names(
    cursor: Cursor[Any], events: Sequence[DomainEventProtocol[Any]], positions: Sequence[int]
) -> None:
    for version in name_versions(events, positions):
        project_id = version.project_id
        if version.renames:
            cursor.execute(
                "UPDATE project_name_versions SET valid_to = %s"
                " WHERE project_uuid = %s AND valid_to IS NULL RETURNING project_id",
                (version.valid_from, version.project_uuid),
            )
            ((project_id,),) = _rows(cursor)
        cursor.execute(
            "INSERT INTO project_name_versions (project_uuid, project_id, name, valid_from)"
            " VALUES (%s, %s, %s, %s)",
            (version.project_uuid, project_id, version.name, version.valid_from),
        )


class TimeTravelView:
    """Queries as of a past position: which position a moment is, and reports then."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def position_at(self, moment: datetime) -> tuple[int, datetime | None]:
        """The position of `moment`, and the latest time the read model has seen recorded.

        When the latest time is not after `moment`, events recorded since the read model's
        position might still belong before `moment`: wait for it to catch up and ask again.
        """
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                "SELECT (SELECT position FROM log_clock WHERE recorded_by <= %(t)s"
                "        ORDER BY recorded_by DESC, position DESC LIMIT 1),"
                "       (SELECT recorded_by FROM log_clock ORDER BY position DESC LIMIT 1)",
                {"t": moment},
            )
            row = await cur.fetchone()
        assert row is not None
        return int(row[0] or 0), row[1]

    async def totals(
        self,
        first: date,
        last: date,
        user_id: int | None,
        project_id: int | None,
        position: int,
    ) -> list[ProjectTotals]:
        """Per-project totals of entries (with an end) in days `first`..`last` at `position`."""
        conditions = [
            "day BETWEEN %(first)s AND %(last)s",
            "valid_from <= %(p)s",
            "(valid_to IS NULL OR valid_to > %(p)s)",
            "seconds IS NOT NULL",
        ]
        if user_id is not None:
            conditions.append("user_id = %(user_id)s")
        if project_id is not None:
            conditions.append("project_id = %(project_id)s")
        query = (
            "SELECT project_id, sum(seconds), coalesce(sum(seconds) FILTER (WHERE billable), 0),"
            " count(*) FROM entry_versions WHERE "
            + " AND ".join(conditions)
            + " GROUP BY project_id ORDER BY project_id"
        )
        params = {
            "first": first,
            "last": last,
            "p": position,
            "user_id": user_id,
            "project_id": project_id,
        }
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(query, params)  # type: ignore[arg-type]
            rows = await cur.fetchall()
        return [ProjectTotals(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]
