"""Queries on the report-groups read model: grouped sums, and every entry of an export.

Money: an entry's billable amount is its billable seconds times the rate in force (the
project's `hourly_rate`, else its client's `default_hourly_rate`, else 0), in integer cents,
rounded once, half up, per entry. Every sum above it is a sum of integers, so groups add up
to the totals and an export's rows to the report, to the cent.

Days, weeks (ISO) and months are those of the entry's start in the report's time zone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

GROUP_KEYS = ("project", "client", "task", "user", "tag", "day", "week", "month")
_ID_KINDS = ("project", "client", "task", "user")
EXPORT_CHUNK = 2000  # rows fetched from the server-side cursor at a time

# An entry's cents: floor(seconds * rate / 36 + 1/2), with `div` (exact, no rounded division).
_CENTS = "CASE WHEN e.billable THEN div(2 * e.seconds * {rate} + 36, 72) ELSE 0 END"
_RATE = "coalesce(p.rate, c.rate, 0)"


def _key_sql(key: str) -> str:
    local = "(e.start_time AT TIME ZONE %(tz)s)"
    return {
        "project": "e.project_id::text",
        "client": "p.client_id::text",
        "task": "e.task_id::text",
        "user": "e.user_id::text",
        "tag": "tag",
        "day": f"to_char({local}, 'YYYY-MM-DD')",
        "week": f"to_char({local}, 'IYYY-\"W\"IW')",
        "month": f"to_char({local}, 'YYYY-MM')",
    }[key]


@dataclass(frozen=True)
class ReportWindow:
    """What a report or an export covers: entries starting in [start, end), narrowed by the
    filters (None: no filter; a tuple: any of these), as current or as of `position`."""

    start: datetime | None
    end: datetime | None
    tz: str = "UTC"
    user_ids: tuple[int, ...] | None = None
    project_ids: tuple[int, ...] | None = None
    client_ids: tuple[int, ...] | None = None
    task_ids: tuple[int, ...] | None = None
    tags: tuple[str, ...] | None = None
    billable: bool | None = None
    position: int | None = None
    include_active: bool = False


@dataclass
class Sums:
    """Seconds, billable seconds, entries and billable cents of a group or a whole report."""

    seconds: int = 0
    billable_seconds: int = 0
    entries: int = 0
    cents: int = 0


@dataclass
class Group:
    """One group of a report: its key (for ids, the id and its label), its sums, and its
    inner groups when grouped by two keys."""

    key: str
    value: str | int | None
    label: str | None
    sums: Sums
    groups: list[Group] | None = None


@dataclass
class GroupedReport:
    """The totals and the groups of a report."""

    totals: Sums
    groups: list[Group] = field(default_factory=list)


def _valid(alias: str, position: int | None) -> str:
    if position is None:
        return f"{alias}.valid_to IS NULL"
    return (
        f"{alias}.valid_from <= %(position)s"
        f" AND ({alias}.valid_to IS NULL OR {alias}.valid_to > %(position)s)"
    )


def _from_where(window: ReportWindow) -> tuple[str, dict[str, Any]]:
    """The joined entries of a window: FROM ... WHERE ..., and its parameters."""
    conditions = [_valid("e", window.position)]
    if not window.include_active:
        conditions.append("e.seconds IS NOT NULL")
    if window.start is not None:
        conditions.append("e.start_time >= %(start)s")
    if window.end is not None:
        conditions.append("e.start_time < %(end)s")
    for name, column in (
        ("user_ids", "e.user_id"),
        ("project_ids", "e.project_id"),
        ("client_ids", "p.client_id"),
        ("task_ids", "e.task_id"),
    ):
        if getattr(window, name) is not None:
            conditions.append(f"{column} = ANY(%({name})s)")
    if window.tags is not None:
        conditions.append("e.tags && %(tags)s::text[]")
    if window.billable is not None:
        conditions.append("e.billable = %(billable)s")
    text = (
        " FROM report_entries e"
        " LEFT JOIN report_labels p ON p.kind = 'project' AND p.id = e.project_id AND "
        + _valid("p", window.position)
        + " LEFT JOIN report_labels c ON c.kind = 'client' AND c.id = p.client_id AND "
        + _valid("c", window.position)
        + " WHERE "
        + " AND ".join(conditions)
    )
    params: dict[str, Any] = {
        "start": window.start,
        "end": window.end,
        "tz": window.tz,
        "position": window.position,
        "user_ids": None if window.user_ids is None else list(window.user_ids),
        "project_ids": None if window.project_ids is None else list(window.project_ids),
        "client_ids": None if window.client_ids is None else list(window.client_ids),
        "task_ids": None if window.task_ids is None else list(window.task_ids),
        "tags": None if window.tags is None else list(window.tags),
        "billable": window.billable,
    }
    return text, params


_SUMS = (
    "coalesce(sum(seconds), 0), coalesce(sum(seconds) FILTER (WHERE billable), 0),"
    " count(*), coalesce(sum(cents), 0)"
)


def _grouped_sql(group_by: Sequence[str], window: ReportWindow) -> tuple[str, dict[str, Any]]:
    """One query answering every level: (level, key 1, key 2, sums) rows, level 0 the totals.

    An entry with two tags counts once in each tag group, but once only in the totals and
    in groups of other keys: only the levels that group by `tag` read the entries unnested
    by tag (an entry without tags once, with a NULL tag).
    """
    from_where, params = _from_where(window)
    levels = [(0, ()), (1, ("k1",))] + ([(2, ("k1", "k2"))] if len(group_by) > 1 else [])
    parts = []
    for unnest in (False, True):
        sets = [names for level, names in levels if ("tag" in group_by[:level]) == unnest]
        if not sets:
            continue
        keys = [_key_sql(k) if unnest or k != "tag" else "NULL::text" for k in group_by]
        k2 = keys[1] if len(keys) > 1 else "NULL::text"
        source = from_where
        if unnest:
            source = from_where.replace(
                " WHERE ",
                " CROSS JOIN LATERAL unnest(CASE WHEN cardinality(e.tags) = 0"
                " THEN ARRAY[NULL]::text[] ELSE e.tags END) AS tag WHERE ",
                1,
            )
        grouping = ", ".join("(" + ", ".join(names) + ")" for names in sets)
        # A row's level: how many keys its set groups by (GROUPING(k) is 1 for a key the
        # row's set does not group by; it may name only keys some set groups by).
        grouped = sorted({name for names in sets for name in names})
        level = " - ".join([str(len(grouped)), *(f"GROUPING({k})" for k in grouped)])
        parts.append(
            f"SELECT {level}, {_or_null('k1', grouped)}, {_or_null('k2', grouped)}, "
            + _SUMS
            + f" FROM (SELECT {keys[0]} AS k1, {k2} AS k2, e.seconds, e.billable,"
            + f" {_CENTS.format(rate=_RATE)} AS cents{source}) s"
            + f" GROUP BY GROUPING SETS ({grouping})"
        )
    return " UNION ALL ".join(parts), params


def _or_null(key: str, grouped: Sequence[str]) -> str:
    return key if key in grouped else "NULL::text"


def _sums(row: Sequence[Any]) -> Sums:
    return Sums(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def _value(key: str, text: str | None) -> str | int | None:
    if text is None:
        return None
    return int(text) if key in _ID_KINDS else text


class ReportGroupsView:
    """Grouped reports and exports from the report-groups read model."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def user_timezone(self, user_id: int, position: int | None = None) -> str | None:
        """A user's time zone (as of `position`), or None when not known yet."""
        query = (
            "SELECT timezone FROM report_labels p WHERE kind = 'user' AND id = %(id)s"
            f" AND {_valid('p', position)}"
        )
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(query, {"id": user_id, "position": position})  # type: ignore[arg-type]
            row = await cur.fetchone()
        return None if row is None else row[0]

    async def labels(
        self, kind: str, ids: Sequence[int], position: int | None = None
    ) -> dict[int, str]:
        """Names of projects, clients, tasks or users (as of `position`)."""
        if not ids:
            return {}
        query = (
            "SELECT id, name FROM report_labels p WHERE kind = %(kind)s AND id = ANY(%(ids)s)"
            f" AND {_valid('p', position)}"
        )
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(query, {"kind": kind, "ids": list(ids), "position": position})  # type: ignore[arg-type]
            return {int(r[0]): str(r[1]) for r in await cur.fetchall()}

    async def report(self, group_by: Sequence[str], window: ReportWindow) -> GroupedReport:
        """The totals and groups (outer first, one or two keys; none: totals only)."""
        if not group_by:
            from_where, params = _from_where(window)
            query = (
                f"SELECT {_SUMS} FROM (SELECT e.seconds, e.billable,"
                f" {_CENTS.format(rate=_RATE)} AS cents{from_where}) s"
            )
            async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
                await cur.execute(query, params)  # type: ignore[arg-type]
                row = await cur.fetchone()
            assert row is not None
            return GroupedReport(_sums(row))
        query, params = _grouped_sql(group_by, window)
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(query, params)  # type: ignore[arg-type]
            rows = await cur.fetchall()
        return await self._assemble(group_by, rows, window.position)

    async def _assemble(
        self, group_by: Sequence[str], rows: list[tuple[Any, ...]], position: int | None
    ) -> GroupedReport:
        report = GroupedReport(Sums())
        outer: dict[str | None, Group] = {}
        inner: list[tuple[str | None, Group]] = []
        for row in rows:
            level, k1, k2, sums = int(row[0]), row[1], row[2], _sums(row[3:])
            if level == 0:
                report.totals = sums
            elif level == 1:
                outer[k1] = Group(group_by[0], _value(group_by[0], k1), None, sums)
            else:
                group = Group(group_by[1], _value(group_by[1], k2), None, sums)
                inner.append((k1, group))
        for k1, group in inner:
            parent = outer[k1]
            parent.groups = [*(parent.groups or []), group]
        groups = [outer[k] for k in outer]
        await self._label(groups + [g for _, g in inner], position)
        report.groups = sorted(groups, key=_order)
        for group in report.groups:
            if len(group_by) > 1:
                group.groups = sorted(group.groups or [], key=_order)
        return report

    async def _label(self, groups: list[Group], position: int | None) -> None:
        for kind in _ID_KINDS:
            ids = {g.value for g in groups if g.key == kind and isinstance(g.value, int)}
            names = await self.labels(kind, sorted(ids), position) if ids else {}
            for g in groups:
                if g.key == kind and isinstance(g.value, int):
                    g.label = names.get(g.value)

    async def export_rows(self, window: ReportWindow) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Every entry of the window, latest start first, in chunks, from a server-side cursor
        (constant memory however many there are): (id, start, end, seconds,
        username, client name, project name, task name, notes, tags, billable, rate, cents)."""
        from_where, params = _from_where(window)
        query = (
            "SELECT e.entry_id, e.start_time, e.end_time,"
            " e.seconds, u.name, cl.name, p.name, t.name, e.notes, e.tags, e.billable,"
            f" {_RATE}, coalesce({_CENTS.format(rate=_RATE)}, 0)"
            + from_where.replace(
                " WHERE ",
                " LEFT JOIN report_labels u ON u.kind = 'user' AND u.id = e.user_id AND "
                + _valid("u", window.position)
                + " LEFT JOIN report_labels cl ON cl.kind = 'client' AND cl.id = p.client_id AND "
                + _valid("cl", window.position)
                + " LEFT JOIN report_labels t ON t.kind = 'task' AND t.id = e.task_id AND "
                + _valid("t", window.position)
                + " WHERE ",
                1,
            )
            + " ORDER BY e.start_time DESC, e.entry_id DESC"
        )
        async with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor("report_export", row_factory=tuple_row)
            try:
                await cur.execute(sql.SQL(query), params)  # type: ignore[arg-type]
                while True:
                    rows = await cur.fetchmany(EXPORT_CHUNK)
                    if not rows:
                        break
                    yield rows
            finally:
                await cur.close()


def _order(group: Group) -> tuple[int, str | int]:
    """Groups in key order, the group without a value (no client, task or tag) last."""
    if group.value is None:
        return (1, "")
    return (0, group.value)
