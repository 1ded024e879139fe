"""Day sums of the report-groups read model: today's reports without summing every entry.

`report_day_sums` holds, for UTC and each time zone in `report_zones` (every zone a user
has chosen), the seconds, billable seconds, entries and billable cents (at the rates in
force) of the current entries per local day, at three grains:
- `upd`: per user, project and day (any mix of user, project and client keys and filters);
- `pd`: per project and day (everyone's time by project or client, the plain summary);
- `ud`: per user and day (everyone's time by user).

Every sum is of whole numbers (an entry's cents are rounded on their own), so the rows a
batch gets do not depend on how the log was cut into batches, and a live build and a rebuild
hold the same rows. Each batch:
- adds what its entries changed: each finished entry version it closes is taken away, each
  finished version it makes current is added, at the rates in force (one upsert of the
  three grains, in key order; a row whose entries reach 0 is deleted). The cost is the
  batch's, whatever the days already hold;
- recomputes from the entry and label versions every row of a project whose rate or client
  changed (or whose client's rate did) and every row of a zone chosen for the first time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Cursor

DAY_TABLES = ("report_day_sums", "report_zones")
DEFAULT_ZONE = "UTC"
_CENTS = (
    "CASE WHEN e.billable THEN div(2 * e.seconds * coalesce(p.rate, c.rate, 0) + 36, 72) ELSE 0 END"
)
_LABELS = (
    " LEFT JOIN report_labels p ON p.kind = 'project' AND p.id = e.project_id"
    " AND p.valid_to IS NULL"
    " LEFT JOIN report_labels c ON c.kind = 'client' AND c.id = p.client_id"
    " AND c.valid_to IS NULL"
)
_ENTRY_SUMS = (
    "sum(e.seconds), coalesce(sum(e.seconds) FILTER (WHERE e.billable), 0), count(*),"
    f" sum({_CENTS})"
)
_C_SUMS = "sum(seconds), sum(billable_seconds), sum(entries), sum(cents)"
_ROW_SUMS = "sum(s.seconds), sum(s.billable_seconds), sum(s.entries), sum(s.cents)"


def day_statements() -> list[str]:
    """DDL of the day sums (and the zone everyone starts in)."""
    return [
        """
        CREATE TABLE IF NOT EXISTS report_day_sums (
            zone text NOT NULL,
            grain text NOT NULL,
            user_id integer NOT NULL,
            project_id integer NOT NULL,
            day date NOT NULL,
            seconds bigint NOT NULL,
            billable_seconds bigint NOT NULL,
            entries bigint NOT NULL,
            cents numeric NOT NULL,
            PRIMARY KEY (zone, grain, day, user_id, project_id)
        )
        """,
        "CREATE INDEX IF NOT EXISTS report_day_sums_user_idx"
        " ON report_day_sums (zone, grain, user_id, day)",
        "CREATE INDEX IF NOT EXISTS report_day_sums_project_idx"
        " ON report_day_sums (zone, grain, project_id, day)",
        # The zones users chose besides UTC, which always has day sums (a table emptied by a
        # reset or a restore must need no row to say so).
        "CREATE TABLE IF NOT EXISTS report_zones (zone text PRIMARY KEY)",
    ]


# The keys a batch touched, for the statements that recompute them (one per session).
_TOUCHED = (
    "CREATE TEMP TABLE IF NOT EXISTS report_touched"
    " (zone text, user_id integer, project_id integer, day date) ON COMMIT DELETE ROWS"
)


@dataclass(frozen=True)
class Contribution:
    """What one finished entry version adds to its day sums (`sign` -1: takes away)."""

    sign: int
    user_id: int
    project_id: int
    start_time: datetime
    seconds: int
    billable: bool


def refresh_days(
    cursor: Cursor[Any],
    entries: Sequence[Contribution],
    projects: set[int],
    clients: set[int],
    zones: set[str],
) -> int:
    """Bring the day sums up to a batch: add the `entries` contributions, then recompute
    every day of `projects`, of the projects of `clients` and of new `zones`; returns about
    how many rows it wrote."""
    written = add_contributions(cursor, entries)
    if not (projects or clients or zones - {DEFAULT_ZONE}):
        return written  # nothing to recompute: no temporary table either
    cursor.execute(_TOUCHED)
    touched = 0  # rows put into report_touched
    new_zones = sorted(zones - {DEFAULT_ZONE})
    if new_zones:
        cursor.execute(
            "INSERT INTO report_zones SELECT unnest(%b::text[]) ON CONFLICT DO NOTHING"
            " RETURNING zone",
            (new_zones,),
        )
        added = [row[0] if not isinstance(row, dict) else row["zone"] for row in cursor]
        if added:
            cursor.execute(
                "INSERT INTO report_touched SELECT DISTINCT z.zone, e.user_id, e.project_id,"
                " (e.start_time AT TIME ZONE z.zone)::date FROM report_entries e,"
                " unnest(%b::text[]) z(zone) WHERE e.valid_to IS NULL",
                (added,),
            )
            touched += max(cursor.rowcount, 0)
    if clients:
        cursor.execute(
            "SELECT id FROM report_labels WHERE kind = 'project' AND valid_to IS NULL"
            " AND client_id = ANY(%s)",
            (sorted(clients),),
        )
        projects = projects | {row[0] if not isinstance(row, dict) else row["id"] for row in cursor}
    if projects:
        cursor.execute(
            "INSERT INTO report_touched SELECT zone, user_id, project_id, day"
            " FROM report_day_sums WHERE grain = 'upd' AND project_id = ANY(%s)",
            (sorted(projects),),
        )
        touched += max(cursor.rowcount, 0)
    if touched:
        # One round trip (its statements take no parameters): a live batch's runner waits
        # for each, and the writes wait for the runner.
        cursor.execute(_RECOMPUTE)
    return written + touched


def add_contributions(cursor: Cursor[Any], entries: Sequence[Contribution]) -> int:
    """Add the contributions to the rows of every zone and grain; delete the rows whose
    entries reach 0. Returns how many rows it wrote."""
    if not entries:
        return 0
    cursor.execute(
        _ADD,
        (
            [c.sign for c in entries],
            [c.user_id for c in entries],
            [c.project_id for c in entries],
            [c.start_time for c in entries],
            [c.seconds for c in entries],
            [c.billable for c in entries],
        ),
    )
    row = cursor.fetchone()
    assert row is not None  # an aggregate answers one row
    written, *emptied = row.values() if isinstance(row, dict) else row
    if emptied[0] is not None:
        cursor.execute(
            "DELETE FROM report_day_sums s"
            " USING unnest(%b::text[], %b::text[], %b::date[], %b::int[], %b::int[])"
            " AS k(zone, grain, day, user_id, project_id)"
            " WHERE s.zone = k.zone AND s.grain = k.grain AND s.day = k.day"
            " AND s.user_id = k.user_id AND s.project_id = k.project_id AND s.entries = 0",
            emptied,
        )
    return int(written)


def _coarser(grain: str, column: str, other: str) -> list[str]:
    """Recompute a coarser grain's touched rows (per project or per user) from the `upd` rows."""
    keys = f"(SELECT DISTINCT zone, {column}, day FROM report_touched)"
    return [
        f"DELETE FROM report_day_sums s USING {keys} k WHERE s.grain = '{grain}'"
        f" AND s.zone = k.zone AND s.day = k.day AND s.{column} = k.{column}",
        f"INSERT INTO report_day_sums (zone, grain, {column}, {other}, day, seconds,"
        f" billable_seconds, entries, cents) SELECT s.zone, '{grain}', s.{column}, 0, s.day,"
        f" {_ROW_SUMS} FROM {keys} k JOIN report_day_sums s ON s.grain = 'upd'"
        f" AND s.zone = k.zone AND s.day = k.day AND s.{column} = k.{column}"
        f" GROUP BY s.zone, s.{column}, s.day",
    ]


# The contributions (one per finished entry version: sign, user, project, start, seconds,
# billable) summed per row of each grain and zone and added in key order. Answers how many
# rows it inserted, and the keys of the rows left with no entry, for deleting (a statement
# cannot see its own upserts).
_ADD = f"""
WITH c AS (
    SELECT z.zone, e.user_id, e.project_id, (e.start_time AT TIME ZONE z.zone)::date AS day,
        e.sign * e.seconds AS seconds,
        CASE WHEN e.billable THEN e.sign * e.seconds ELSE 0 END AS billable_seconds,
        e.sign AS entries, e.sign * {_CENTS} AS cents
    FROM unnest(%b::int[], %b::int[], %b::int[], %b::timestamptz[], %b::bigint[], %b::bool[])
        AS e(sign, user_id, project_id, start_time, seconds, billable){_LABELS}
    CROSS JOIN (SELECT zone FROM report_zones UNION SELECT '{DEFAULT_ZONE}') z
), sums AS (
    SELECT zone, 'upd' AS grain, user_id, project_id, day, {_C_SUMS} FROM c
    GROUP BY zone, user_id, project_id, day
    UNION ALL
    SELECT zone, 'pd', 0, project_id, day, {_C_SUMS} FROM c GROUP BY zone, project_id, day
    UNION ALL
    SELECT zone, 'ud', user_id, 0, day, {_C_SUMS} FROM c GROUP BY zone, user_id, day
), added AS (
    INSERT INTO report_day_sums AS s
        (zone, grain, user_id, project_id, day, seconds, billable_seconds, entries, cents)
    SELECT * FROM sums ORDER BY zone, grain, day, user_id, project_id
    ON CONFLICT (zone, grain, day, user_id, project_id) DO UPDATE SET
        seconds = s.seconds + excluded.seconds,
        billable_seconds = s.billable_seconds + excluded.billable_seconds,
        entries = s.entries + excluded.entries,
        cents = s.cents + excluded.cents
    RETURNING s.zone, s.grain, s.day, s.user_id, s.project_id, s.entries, s.xmax = 0 AS new
)
SELECT count(*) FILTER (WHERE new), array_agg(zone) FILTER (WHERE entries = 0),
    array_agg(grain) FILTER (WHERE entries = 0), array_agg(day) FILTER (WHERE entries = 0),
    array_agg(user_id) FILTER (WHERE entries = 0),
    array_agg(project_id) FILTER (WHERE entries = 0)
FROM added
"""

# Recompute the touched keys, then empty report_touched. ANALYZE first: a temporary table has
# no statistics, and without them the planner takes the few keys of a live batch for a
# thousand and joins them by scanning every day sum. Each key's entries are summed in a
# LATERAL subquery: an index range per key, whatever the planner guesses (as a join it hashed
# every current entry). Over 100,000 entries a live batch's recompute took 55 ms, 2-3 ms
# after both (measured).
_RECOMPUTE = ";".join(
    [
        "ANALYZE report_touched",
        "DELETE FROM report_day_sums s USING (SELECT DISTINCT * FROM report_touched) k"
        " WHERE s.grain = 'upd' AND s.zone = k.zone AND s.day = k.day"
        " AND s.user_id = k.user_id AND s.project_id = k.project_id",
        "INSERT INTO report_day_sums SELECT k.zone, 'upd', k.user_id, k.project_id, k.day,"
        " x.seconds, x.billable_seconds, x.entries, x.cents"
        " FROM (SELECT DISTINCT * FROM report_touched) k CROSS JOIN LATERAL ("
        f"SELECT {_ENTRY_SUMS} FROM report_entries e{_LABELS}"
        " WHERE e.valid_to IS NULL AND e.seconds IS NOT NULL"
        " AND e.user_id = k.user_id AND e.project_id = k.project_id"
        " AND e.start_time >= (k.day::timestamp AT TIME ZONE k.zone)"
        " AND e.start_time < ((k.day + 1)::timestamp AT TIME ZONE k.zone)"
        ") x(seconds, billable_seconds, entries, cents) WHERE x.entries > 0",
        *_coarser("pd", "project_id", "user_id"),
        *_coarser("ud", "user_id", "project_id"),
        "DELETE FROM report_touched",
    ]
)
