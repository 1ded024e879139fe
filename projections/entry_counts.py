"""How many entries each user has per project, billable or not, finished or running.

A page of entries tells its total. Counting the matching rows of `time_entries` visits
every one of them (a user with 2,000 entries: ~3,000 heap blocks, 3.5-4 ms a page), so the
time-entries read model also keeps these counts, in the same transaction as the rows, and
a list filtered by nothing but user, project, billable and running answers its total by
adding up a handful of them (`count_statement`). Date filters still count rows.

The counts are sums that commute, so the partitioned rebuild's processes may add to the
same ones: each batch adds its changes in one statement, in key order, as its last write
(two batches never wait on each other in opposite orders, and a batch holds the lock
only from that statement to its commit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, LiteralString
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from psycopg import Cursor

from timetracker.domain.entry import Entry

TABLE = "time_entry_counts"

# (user_id, project_id, billable, finished): the filters a count can answer.
CountKey = tuple[int, int, bool, bool]

CREATE_STATEMENTS: list[LiteralString] = [
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        user_id integer NOT NULL,
        project_id integer NOT NULL,
        billable boolean NOT NULL,
        finished boolean NOT NULL,
        entries bigint NOT NULL,
        PRIMARY KEY (user_id, project_id, billable, finished)
    )
    """,
    # A read model built before the counts: count its rows once (a new one has none).
    f"""
    INSERT INTO {TABLE}
    SELECT user_id, project_id, billable, end_time IS NOT NULL, count(*) FROM time_entries
    WHERE NOT EXISTS (SELECT 1 FROM {TABLE}) GROUP BY 1, 2, 3, 4
    """,
]


def event_key(event: Any) -> CountKey:
    """The count a created or restored entry adds to."""
    fields = event.fields
    return (event.user_id, fields["project_id"], fields["billable"], fields["end_time"] is not None)


def ids_to_read(events: Sequence[DomainEventProtocol[Any]]) -> list[UUID]:
    """The entries whose rows, as they stand before the batch, the batch may change."""
    created = {e.originator_id for e in events if isinstance(e, Entry.Created)}
    return sorted(
        {
            e.originator_id
            for e in events
            if isinstance(e, Entry.Edited | Entry.Deleted) and e.originator_id not in created
        }
    )


def count_changes(
    before: Mapping[UUID, CountKey], events: Sequence[DomainEventProtocol[Any]]
) -> dict[CountKey, int]:
    """What a batch adds to each count (pure): every entry's key before the batch (those
    with a row, from `before`) taken away, its key after the batch added; zeros left out."""
    states: dict[UUID, CountKey | None] = dict(before)
    for event in events:
        key = event.originator_id
        if isinstance(event, Entry.Created | Entry.Restored):
            states[key] = event_key(event)
        elif isinstance(event, Entry.Edited):
            state = states.get(key)
            if state is None:
                continue
            user_id, project_id, billable, finished = state
            changes = event.changes
            if "project_id" in changes:
                project_id = changes["project_id"]["to"]
            if "billable" in changes:
                billable = changes["billable"]["to"]
            if "end_time" in changes:
                finished = changes["end_time"]["to"] is not None
            states[key] = (user_id, project_id, billable, finished)
        elif isinstance(event, Entry.Deleted):
            states[key] = None
    added: Counter[CountKey] = Counter()
    for key, state in states.items():
        if key in before:
            added[before[key]] -= 1
        if state is not None:
            added[state] += 1
    return {key: n for key, n in added.items() if n}


def read_keys(cursor: Cursor[Any], ids: Sequence[UUID]) -> dict[UUID, CountKey]:
    """The count keys of these entries' rows as they stand (entries without a row left out)."""
    if not ids:
        return {}
    cursor.execute(
        "SELECT aggregate_id, user_id, project_id, billable, end_time IS NOT NULL"
        " FROM time_entries WHERE aggregate_id = ANY(%b::uuid[])",
        (list(ids),),
    )
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in cursor.fetchall()}


def write_counts(cursor: Cursor[Any], added: Mapping[CountKey, int]) -> None:
    """Add to the counts in key order; a count that reaches 0 goes (so a replay, whatever
    its batches, leaves the same rows)."""
    if not added:
        return
    keys = sorted(added)
    columns = [list(column) for column in zip(*keys, strict=True)]
    cursor.execute(
        f"INSERT INTO {TABLE} (user_id, project_id, billable, finished, entries)"
        " SELECT * FROM unnest(%b::int[], %b::int[], %b::bool[], %b::bool[], %b::bigint[])"
        " ORDER BY 1, 2, 3, 4"
        f" ON CONFLICT (user_id, project_id, billable, finished)"
        f" DO UPDATE SET entries = {TABLE}.entries + excluded.entries",
        [*columns, [added[key] for key in keys]],
    )
    if any(added[key] < 0 for key in keys):
        cursor.execute(
            f"DELETE FROM {TABLE} WHERE entries = 0 AND (user_id, project_id, billable, finished)"
            " IN (SELECT * FROM unnest(%b::int[], %b::int[], %b::bool[], %b::bool[]))",
            columns,
        )


def count_statement(
    user_id: bool, project_id: bool, billable: bool, include_active: bool
) -> LiteralString:
    """The total of a list filtered by these (each True when set), from the counts."""
    conditions: list[LiteralString] = []
    if user_id:
        conditions.append("user_id = %(user_id)s")
    if project_id:
        conditions.append("project_id = %(project_id)s")
    if billable:
        conditions.append("billable = %(billable)s")
    if not include_active:
        conditions.append("finished")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT coalesce(sum(entries), 0)::bigint FROM {TABLE}{where}"
