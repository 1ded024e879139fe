"""Queries on the report-groups read model: grouped sums, and every entry of an export.

Money: an entry's billable amount is its billable seconds times the rate in force (the
project's `hourly_rate`, else its client's `default_hourly_rate`, else 0), in integer cents,
rounded once, half up, per entry. Every sum above it is a sum of integers, so groups add up
to the totals and an export's rows to the report, to the cent.

Days, weeks (ISO) and months are those of the entry's start in the report's time zone.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg import sql
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from timetracker.projections.report_days import DEFAULT_ZONE

GROUP_KEYS = ("project", "client", "task", "user", "tag", "day", "week", "month")
_ID_KINDS = ("project", "client", "task", "user")
REPORTS_KEPT = 256  # reports a process keeps, each for the read-model position it was asked at
ZONES_KEPT = 1024  # users' time zones a process keeps, each for the position it was asked at
EXPORT_CHUNK = 2000  # rows fetched from the server-side cursor at a time

# An entry's cents: floor(seconds * rate / 36 + 1/2), with `div` (exact, no rounded division).
_CENTS = "CASE WHEN e.billable THEN div(2 * e.seconds * {rate} + 36, 72) ELSE 0 END"
_RATE = "coalesce(p.rate, c.rate, 0)"


def _key_sql(key: str) -> str:
    """A key's SQL value: an id, a tag, or the entry's start day in the report's zone (weeks
    and months are rolled up from days here: an entry falls in exactly one day)."""
    return {
        "project": "e.project_id",
        "client": "p.client_id",
        "task": "e.task_id",
        "user": "e.user_id",
        "tag": "tag",
        "day": "(e.start_time AT TIME ZONE %(tz)s)::date",
        "week": "(e.start_time AT TIME ZONE %(tz)s)::date",
        "month": "(e.start_time AT TIME ZONE %(tz)s)::date",
    }[key]


def _key_value(key: str, text: str | None) -> str | int | None:
    """A key's value in a report from its SQL value (as text)."""
    if text is None:
        return None
    if key in _ID_KINDS:
        return int(text)
    if key == "week":
        year, week, _ = date.fromisoformat(text).isocalendar()
        return f"{year}-W{week:02d}"
    if key == "month":
        return text[:7]
    return text


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
    days: tuple[date, date] | None = None  # the local days [start, end) covers, if whole days


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
    from_days: bool = False  # summed from the day sums rather than the entries


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
    """The finest groups, in one query: rows (part, key 1, key 2, sums).

    Part 0 groups the entries by the keys other than `tag`: the totals and the levels
    without a tag add these up, each entry once. Part 1, only when grouping by `tag`,
    groups them by every key with one row per tag of an entry (an entry without tags once,
    with a NULL tag): an entry with two tags counts once in each tag group.
    """
    from_where, params = _from_where(window)
    parts = []
    plain = [k for k in group_by if k != "tag"]
    for part, keys in enumerate([plain, list(group_by)] if "tag" in group_by else [plain]):
        source = from_where
        if part:
            source = from_where.replace(
                " WHERE ",
                " CROSS JOIN LATERAL unnest(CASE WHEN cardinality(e.tags) = 0"
                " THEN ARRAY[NULL]::text[] ELSE e.tags END) AS tag WHERE ",
                1,
            )
        columns = [f"{_key_sql(k)} AS k{i}" for i, k in enumerate(keys, 1)]
        names = [f"k{i}" for i in range(1, len(keys) + 1)]
        texts = [f"{n}::text" for n in names] + ["NULL::text"] * (2 - len(keys))
        group = f" GROUP BY {', '.join(names)}" if names else ""
        parts.append(
            f"SELECT {part}, {', '.join(texts)}, {_SUMS} FROM (SELECT "
            + ", ".join(
                [*columns, "e.seconds", "e.billable", f"{_CENTS.format(rate=_RATE)} AS cents"]
            )
            + f"{source}) s{group}"
        )
    return " UNION ALL ".join(parts), params


def _sums(row: Sequence[Any]) -> Sums:
    return Sums(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


_DAY_KEYS = {
    "project": "s.project_id",
    "client": "p.client_id",
    "user": "s.user_id",
    "day": "s.day",
    "week": "s.day",
    "month": "s.day",
}


# The columns that tell a grain's rows apart (in a zone).
_GRAIN_KEYS = {
    "upd": ("s.user_id", "s.project_id", "s.day"),
    "ud": ("s.user_id", "s.day"),
    "pd": ("s.project_id", "s.day"),
}


def _days_sql(group_by: Sequence[str], window: ReportWindow) -> tuple[str, dict[str, Any]] | None:
    """The finest groups from the day sums (rows as `_grouped_sql`'s part 0), when they can
    answer: today's report of whole days, by users, projects, clients and periods only. Its
    last row is (-1, ...) when the zone has no day sums (then the entries must be summed)."""
    if (
        window.position is not None
        or window.days is None
        or window.include_active
        or window.billable is not None
        or window.tags is not None
        or window.task_ids is not None
        or not set(group_by) <= set(_DAY_KEYS)
    ):
        return None
    by_user = "user" in group_by or window.user_ids is not None
    by_project = bool({"project", "client"} & set(group_by)) or (
        window.project_ids is not None or window.client_ids is not None
    )
    grain = "upd" if by_user and by_project else "ud" if by_user else "pd"
    conditions = ["s.zone = %(tz)s", f"s.grain = '{grain}'", "s.day BETWEEN %(first)s AND %(last)s"]
    for name, column in (
        ("user_ids", "s.user_id"),
        ("project_ids", "s.project_id"),
        ("client_ids", "p.client_id"),
    ):
        if getattr(window, name) is not None:
            conditions.append(f"{column} = ANY(%({name})s)")
    keys = [_DAY_KEYS[k] for k in group_by]
    texts = [f"{k}::text" for k in keys] + ["NULL::text"] * (2 - len(keys))
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    sums = (
        "coalesce(sum(s.seconds), 0), coalesce(sum(s.billable_seconds), 0),"
        " coalesce(sum(s.entries), 0), coalesce(sum(s.cents), 0)"
    )
    if set(keys) == set(_GRAIN_KEYS[grain]):
        # The grain's rows are the groups themselves (one per user or project and day).
        group, sums = "", "s.seconds, s.billable_seconds, s.entries, s.cents"
    _, params = _from_where(window)
    params.update(first=window.days[0], last=window.days[1])
    query = (
        f"SELECT 0, {', '.join(texts)}, {sums} FROM report_day_sums s"
        + (
            " LEFT JOIN report_labels p ON p.kind = 'project' AND p.id = s.project_id"
            " AND p.valid_to IS NULL"
            if "client" in group_by or window.client_ids is not None
            else ""
        )
        + " WHERE "
        + " AND ".join(conditions)
        + group
        + " UNION ALL SELECT -1, NULL, NULL, 0, 0, 0, 0"
        f" WHERE %(tz)s <> '{DEFAULT_ZONE}'"
        " AND NOT EXISTS (SELECT 1 FROM report_zones WHERE zone = %(tz)s)"
    )
    return query, params


class ReportGroupsView:
    """Grouped reports and exports from the report-groups read model."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self._kept: OrderedDict[tuple[Any, ...], GroupedReport] = OrderedDict()
        self._zones: OrderedDict[tuple[int, int, int | None, int], str | None] = OrderedDict()
        # Counts `forget` calls: part of every kept key, so that a report summed before the
        # read model was rewritten and kept after it is never found again.
        self._rewrites = 0

    def forget(self) -> None:
        """Forget every kept report and time zone: the read model was rewritten without
        its position moving forward (a rebuild's switch, a restore; `Freshness.on_rewritten`)."""
        self._rewrites += 1
        self._kept.clear()
        self._zones.clear()

    async def report_at(
        self, group_by: Sequence[str], window: ReportWindow, version: int
    ) -> GroupedReport:
        """`report`, kept per read-model position `version` (read before asking): asked again
        before the read model moves (a dashboard), it is answered without a query. A report
        summed after the position moved on shows at least that position, never less."""
        key = (tuple(group_by), window, version, self._rewrites)
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            return kept
        report = await self.report(group_by, window)
        self._kept[key] = report
        if len(self._kept) > REPORTS_KEPT:
            self._kept.popitem(last=False)  # the one asked for longest ago
        return report

    async def user_timezone_at(
        self, user_id: int, version: int, position: int | None = None
    ) -> str | None:
        """`user_timezone`, kept per read-model position `version` (read before asking), as
        `report_at` keeps reports: a dashboard asking again before the read model moves is
        answered without a query."""
        key = (user_id, version, position, self._rewrites)
        if key in self._zones:
            self._zones.move_to_end(key)
            return self._zones[key]
        zone = await self.user_timezone(user_id, position)
        self._zones[key] = zone
        if len(self._zones) > ZONES_KEPT:
            self._zones.popitem(last=False)
        return zone

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
        rows: list[tuple[Any, ...]] = []
        from_days = _days_sql(group_by, window)
        if from_days is not None:
            rows = await self._fetch(*from_days)
        summed_days = from_days is not None and not any(row[0] == -1 for row in rows)
        if not summed_days:
            rows = await self._fetch(*_grouped_sql(group_by, window))
        report = _assemble(group_by, rows)
        report.from_days = summed_days
        await self._label(report.groups, window.position)
        return report

    async def _fetch(self, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(query, params)  # type: ignore[arg-type]
            rows: list[tuple[Any, ...]] = await cur.fetchall()
            return rows

    async def _label(self, outer: list[Group], position: int | None) -> None:
        groups = [*outer, *(g for o in outer for g in o.groups or [])]
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


def _assemble(group_by: Sequence[str], rows: list[tuple[Any, ...]]) -> GroupedReport:
    """The report's levels added up from the finest groups (see `_grouped_sql`)."""
    totals = Sums()
    outer: dict[Any, Sums] = {}
    inner: dict[Any, dict[Any, Sums]] = {}
    # Part 0 has the keys other than `tag` in order, part 1 every key in order: the key
    # of the outer level is `k1` in either, the inner level's keys `k1`, `k2`.
    if not group_by:
        for row in rows:
            _add(totals, _sums(row[3:]))
        return GroupedReport(totals)
    outer_part, inner_part = int(group_by[0] == "tag"), int("tag" in group_by)
    for row in rows:
        part, k1, k2, sums = int(row[0]), row[1], row[2], _sums(row[3:])
        if part == 0:
            _add(totals, sums)
        if part == outer_part:
            _add(outer.setdefault(_key_value(group_by[0], k1), Sums()), sums)
        if len(group_by) > 1 and part == inner_part:
            v1, v2 = _key_value(group_by[0], k1), _key_value(group_by[1], k2)
            _add(inner.setdefault(v1, {}).setdefault(v2, Sums()), sums)
    groups = []
    for v1, sums in sorted(outer.items(), key=_order):
        group = Group(group_by[0], v1, None, sums)
        if len(group_by) > 1:
            group.groups = [
                Group(group_by[1], v2, None, s)
                for v2, s in sorted(inner.get(v1, {}).items(), key=_order)
            ]
        groups.append(group)
    return GroupedReport(totals, groups)


def _add(to: Sums, sums: Sums) -> None:
    to.seconds += sums.seconds
    to.billable_seconds += sums.billable_seconds
    to.entries += sums.entries
    to.cents += sums.cents


def _order(item: tuple[Any, Sums]) -> tuple[int, Any]:
    """Groups in key order, the group without a value (no client, task or tag) last."""
    return (1, "") if item[0] is None else (0, item[0])
