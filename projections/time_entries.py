"""The time-entries read model: one row per live entry, indexed for every list filter."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from psycopg import Cursor, sql
from psycopg_pool import AsyncConnectionPool

from timetracker.domain.entry import Entry
from timetracker.projections import entry_counts
from timetracker.projections.base import Projection
from timetracker.projections.bodies import body_statements, json_object, refresh_row, time
from timetracker.projections.kept_pages import KEPT_ENTRY_PAGE_BYTES, KeptPages
from timetracker.projections.paging import (
    BodyPage,
    Page,
    bodies_statement,
    fetch_one,
    fetch_page,
    where,
)
from timetracker.projections.rows import Delete, Insert, RowChange, Update, write_rows

_COLUMNS = (
    "project_id",
    "task_id",
    "start_time",
    "end_time",
    "notes",
    "tags",
    "billable",
    "duration_seconds",
)


# Hours as `http/time_entries.py::hours` writes them: a float, so a whole number is `3.0`.
_HUNDREDTHS = "((duration_seconds + 18) / 36)"
_HOURS = (
    f"(CASE WHEN mod({_HUNDREDTHS}, 100) = 0 THEN (({_HUNDREDTHS} / 100)::text || '.0')::json"
    f" ELSE to_json({_HUNDREDTHS}::float8 / 100) END)"
)

# An entry as the API shows it (`http/time_entries.py::entry_json`): the derived fields too
# (hours rounded as `hours` does: hundredths of an hour are 36 seconds, halves up).
BODY = json_object(
    {
        "id": "id",
        "user_id": "user_id",
        "project_id": "project_id",
        "task_id": "task_id",
        "start_time": time("start_time"),
        "end_time": time("end_time"),
        "duration_seconds": "duration_seconds",
        "duration_hours": _HOURS,
        "notes": "notes",
        "tags": "tags",
        "tag_list": "(CASE WHEN coalesce(tags, '') = '' THEN '[]'::json"
        " ELSE to_json(string_to_array(tags, ',')) END)",
        "billable": "billable",
        "is_active": "end_time IS NULL",
        "source": "source",
        "created_at": time("created_at"),
        "updated_at": time("updated_at"),
        "version": "version",
    }
)


_ROW_INDEX = {
    name: index
    for index, name in enumerate(
        (
            "id",
            "aggregate_id",
            "user_id",
            "project_id",
            "task_id",
            "start_time",
            "end_time",
            "duration_seconds",
            "notes",
            "tags",
            "billable",
            "source",
            "created_at",
            "updated_at",
            "version",
        )
    )
}


# New rows go by binary COPY (formatting a row costs a fifth of the text format's) into a
# temporary table, then into `time_entries` with their bodies by one INSERT ... SELECT: each
# row and its index entries are written once. A body set by an UPDATE after a COPY into the
# table wrote every row twice: 41 µs of PostgreSQL a new row in a bulk load, 23 µs now
# (measured). Batches run in a transaction, so the staged rows never outlive their batch.
_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS time_entries_new"
    " (LIKE time_entries INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_COPY = f"COPY time_entries_new ({', '.join(_ROW_INDEX)}) FROM STDIN (FORMAT BINARY)"
_MOVE = (
    f"WITH moved AS (DELETE FROM time_entries_new RETURNING *)"
    f" INSERT INTO time_entries ({', '.join(_ROW_INDEX)}, body)"
    f" SELECT {', '.join(_ROW_INDEX)}, {BODY} FROM moved"
)
_COPY_TYPES = [
    "int4",
    "uuid",
    "int4",
    "int4",
    "int4",
    "timestamptz",
    "timestamptz",
    "int8",
    "text",
    "text",
    "bool",
    "text",
    "timestamptz",
    "timestamptz",
    "int4",
]


def _row(event: Any) -> tuple[Any, ...]:
    """The row of a new (or restored) entry; a restored one's event carries its whole state."""
    fields = event.fields
    end = fields["end_time"]
    duration = None if end is None else int((end - fields["start_time"]).total_seconds())
    created_at = event.created_at if isinstance(event, Entry.Restored) else event.timestamp
    return (
        event.number,
        event.originator_id,
        event.user_id,
        fields["project_id"],
        fields["task_id"],
        fields["start_time"],
        end,
        duration,
        fields["notes"],
        fields["tags"],
        fields["billable"],
        event.source,
        created_at,
        event.timestamp,
        event.originator_version,
    )


class TimeEntriesProjection(Projection):
    """Keeps the `time_entries` table in step with Entry events (a deleted entry's row goes,
    a restored one's comes back)."""

    name = "time_entries"
    tables = ("time_entries", entry_counts.TABLE)
    partitionable = True  # one row / one contribution per entry, sums that commute

    def create_statements(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS time_entries (
                id integer PRIMARY KEY,
                aggregate_id uuid NOT NULL UNIQUE,
                user_id integer NOT NULL,
                project_id integer NOT NULL,
                task_id integer,
                start_time timestamptz NOT NULL,
                end_time timestamptz,
                duration_seconds bigint,
                notes text,
                tags text,
                billable boolean NOT NULL,
                source text NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                version integer NOT NULL,
                body json
            )
            """,
            "CREATE INDEX IF NOT EXISTS time_entries_user_idx"
            " ON time_entries (user_id, start_time DESC, id DESC)",
            "CREATE INDEX IF NOT EXISTS time_entries_project_idx"
            " ON time_entries (project_id, start_time DESC, id DESC)",
            "CREATE INDEX IF NOT EXISTS time_entries_start_idx"
            " ON time_entries (start_time DESC, id DESC)",
            # A user's entries on one project (the usual filter of a normal user's list):
            # without it, a 30-day page visits every entry of the user or of the project.
            "CREATE INDEX IF NOT EXISTS time_entries_user_project_idx"
            " ON time_entries (user_id, project_id, start_time DESC, id DESC)",
            *body_statements("time_entries", BODY),
            *entry_counts.CREATE_STATEMENTS,
        ]

    def changes(self, event: DomainEventProtocol[Any]) -> list[RowChange]:
        if isinstance(event, Entry.Created | Entry.Restored):
            return [
                Insert("time_entries", dict(zip(_ROW_INDEX, _row(event), strict=True))),
                refresh_row("time_entries", BODY, event.originator_id),
            ]
        if isinstance(event, Entry.Edited):
            values = {name: c["to"] for name, c in event.changes.items() if name in _COLUMNS}
            values |= {"updated_at": event.timestamp, "version": event.originator_version}
            return [
                Update("time_entries", event.originator_id, values),
                refresh_row("time_entries", BODY, event.originator_id),
            ]
        if isinstance(event, Entry.Deleted):
            return [Delete("time_entries", event.originator_id)]
        return []

    def batch_changes(
        self, events: Sequence[DomainEventProtocol[Any]]
    ) -> tuple[list[RowChange], list[list[Any]]]:
        """A batch as the changes to rows already in the table, in order, and the rows of
        the entries it creates, each folded in memory to its final state (pure).

        An entry created in the batch is inserted once, in its final state, with its body
        (`_MOVE`); only events on rows already in the table cost a statement each. A
        rebuild is almost all new entries, so it inserts in bulk.
        """
        changes: list[RowChange] = []
        new_rows: dict[Any, list[Any]] = {}
        for event in events:
            key = event.originator_id
            if isinstance(event, Entry.Created | Entry.Restored):
                new_rows[key] = list(_row(event))
            elif isinstance(event, Entry.Edited) and key in new_rows:
                row = new_rows[key]
                for name, change in event.changes.items():
                    if name in _COLUMNS:
                        row[_ROW_INDEX[name]] = change["to"]
                row[_ROW_INDEX["updated_at"]] = event.timestamp
                row[_ROW_INDEX["version"]] = event.originator_version
            elif isinstance(event, Entry.Deleted) and key in new_rows:
                del new_rows[key]
            else:
                changes.extend(self.changes(event))
        return changes, list(new_rows.values())

    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        self.apply_batch(cursor, [event], [])

    def apply_batch(
        self,
        cursor: Cursor[Any],
        events: Sequence[DomainEventProtocol[Any]],
        positions: Sequence[int],
    ) -> None:
        """Apply a batch: `batch_changes`, the new rows by one binary COPY and one move, and
        last what the batch adds to the counts (`entry_counts.py`)."""
        before = entry_counts.read_keys(cursor, entry_counts.ids_to_read(events))
        changes, new_rows = self.batch_changes(events)
        write_rows(cursor, changes)
        if new_rows:
            cursor.execute(_STAGE)
            with cursor.copy(_COPY) as copy:
                copy.set_types(_COPY_TYPES)
                for row in new_rows:
                    copy.write_row(row)
            cursor.execute(_MOVE)
        entry_counts.write_counts(cursor, entry_counts.count_changes(before, events))


@dataclass(frozen=True)
class EntryFilter:
    """What a list of entries is narrowed to."""

    user_id: int | None = None
    project_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    billable: bool | None = None
    include_active: bool = False


class TimeEntriesView:
    """Queries on the time-entries read model."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self.pages = KeptPages(TimeEntriesProjection.name, KEPT_ENTRY_PAGE_BYTES)

    async def get(self, entry_id: int) -> dict[str, Any] | None:
        """One entry, or None."""
        return await fetch_one(
            self.pool,
            sql.SQL("SELECT * FROM time_entries WHERE id = %(id)s"),
            {"id": entry_id},
        )

    async def list(self, where_: EntryFilter, page: int, per_page: int) -> Page:
        """Entries, latest start first, as rows (what an export reads)."""
        conditions, params = _conditions(where_)
        return await fetch_page(
            self.pool,
            sql.SQL("SELECT * FROM time_entries")
            + where(conditions)
            + sql.SQL(" ORDER BY start_time DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s"),
            sql.SQL("SELECT count(*) FROM time_entries") + where(conditions),
            params,
            page,
            per_page,
        )

    async def list_json(
        self, where_: EntryFilter, page: int, per_page: int, shown: int | None = None
    ) -> BodyPage:
        """Entries, latest start first, as their stored API JSON (what a list answers)."""
        _, params = _conditions(where_)
        shape = (*(params[name] is not None for name in _FILTERS), where_.include_active)
        return await self.pages.fetch(
            self.pool, _page_statement(shape), params, page, per_page, shown
        )


_FILTERS = ("user_id", "project_id", "start", "end", "billable")


@functools.lru_cache(maxsize=64)
def _page_statement(shape: tuple[bool, ...]) -> bytes:
    """The page statement for a filter's shape (which filters are set), made once."""
    present = dict(zip(_FILTERS, shape, strict=False))
    conditions, _ = _conditions(
        EntryFilter(
            **{name: 1 if present[name] else None for name in _FILTERS},  # type: ignore[arg-type]
            include_active=shape[-1],
        )
    )
    return bodies_statement(
        sql.SQL("SELECT body, start_time, id FROM time_entries")
        + where(conditions)
        + sql.SQL(" ORDER BY start_time DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s"),
        _count_statement(present, shape[-1], conditions),
    )


def _count_statement(
    present: dict[str, bool], include_active: bool, conditions: list[sql.Composable]
) -> sql.Composable:
    """How a list's total is found: from the kept counts unless it has a date filter."""
    if present["start"] or present["end"]:
        return sql.SQL("SELECT count(*) FROM time_entries") + where(conditions)
    return sql.SQL(
        entry_counts.count_statement(
            present["user_id"], present["project_id"], present["billable"], include_active
        )
    )


def _conditions(where_: EntryFilter) -> tuple[list[sql.Composable], dict[str, Any]]:
    """The WHERE conditions of a filter and their parameters."""
    conditions: list[sql.Composable] = []
    if where_.user_id is not None:
        conditions.append(sql.SQL("user_id = %(user_id)s"))
    if where_.project_id is not None:
        conditions.append(sql.SQL("project_id = %(project_id)s"))
    if where_.start is not None:
        conditions.append(sql.SQL("start_time >= %(start)s"))
    if where_.end is not None:
        conditions.append(sql.SQL("start_time < %(end)s"))  # `end` is exclusive
    if where_.billable is not None:
        conditions.append(sql.SQL("billable = %(billable)s"))
    if not where_.include_active:
        conditions.append(sql.SQL("end_time IS NOT NULL"))
    params = {
        "user_id": where_.user_id,
        "project_id": where_.project_id,
        "start": where_.start,
        "end": where_.end,
        "billable": where_.billable,
    }
    return conditions, params
