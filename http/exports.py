"""Exports: every matching time entry, or a report's innermost groups, as CSV or XLSX files.

`GET /api/v1/time-entries/export` streams the entries of the list's filters (no pagination)
from a server-side cursor; `GET /api/v1/reports/summary/export` the summary's groups, one row
per innermost group. Both read the report-groups read model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp_apigami import docs, querystring_schema, response_schema

from timetracker.http.access import caller_of, requires
from timetracker.http.export_files import FILE_RESPONSES, stream_table
from timetracker.http.keys import (
    freshness_key,
    query_key,
    rate_decision_key,
    report_groups_view_key,
    settings_key,
)
from timetracker.http.positions import reads
from timetracker.http.rate_limit import rate_limit_headers
from timetracker.http.reports import (
    READ_MODEL,
    asked,
    grouped_reports,
    innermost,
    local_midnight,
    users_filter,
)
from timetracker.http.schemas.common import ErrorResponse, TimeBound
from timetracker.http.schemas.reports import EntryExportQuery, ReportExportQuery
from timetracker.http.time_entries import hours
from timetracker.http.writes import POSITION_HEADER
from timetracker.projections.report_groups_view import ReportWindow

routes = web.RouteTableDef()
ENTRY_COLUMNS = (
    "id",
    "date",
    "start_time",
    "end_time",
    "duration_hours",
    "user",
    "client",
    "project",
    "task",
    "notes",
    "tags",
    "billable",
    "hourly_rate",
    "billable_amount",
)
SUM_COLUMNS = ("hours", "billable_hours", "entries", "billable_amount")
_FORMAT_DOC = (
    " CSV: RFC 4180, UTF-8, a header row, text cells that begin with `=`, `+`, `-`, `@`, a "
    "tab or a carriage return prefixed with `'` (OWASP's advice against formula injection). "
    "XLSX: one sheet, typed cells, at most 1,048,575 rows under the header (a longer export "
    "is a 400 `validation_error` on `format`: ask for CSV). Streamed: the server holds one "
    "chunk of rows at a time."
)


def _headers(request: web.Request, position: int) -> dict[str, str]:
    """The headers middlewares add after the handler, added before the body is sent."""
    headers = {POSITION_HEADER: str(position)}
    if rate_decision_key in request:
        headers.update(rate_limit_headers(request[rate_decision_key]))
    return headers


def _bound(bound: TimeBound | None, zone: ZoneInfo, upper: bool) -> datetime | None:
    """A filter bound in the zone: a date is the zone's day, a date-time that moment."""
    if bound is None:
        return None
    if not bound.date_only:
        return bound.until_end() if upper else bound.from_start()
    day = bound.moment.date() + (timedelta(days=1) if upper else timedelta())
    return local_midnight(day, zone)


def _entry_cells(row: Sequence[Any], zone: ZoneInfo) -> list[Any]:
    (entry_id, start, end, seconds, user, client, project, task, notes, tags, billable) = row[:11]
    rate, cents = row[11], row[12]
    start = start.astimezone(zone)
    return [
        entry_id,
        start.date().isoformat(),
        start.isoformat(),
        None if end is None else end.astimezone(zone).isoformat(),
        None if seconds is None else hours(seconds),
        user,
        client,
        project,
        task,
        notes,
        ",".join(tags),
        billable,
        rate,
        int(cents) / 100,
    ]


async def _entry_rows(
    request: web.Request, window: ReportWindow, zone: ZoneInfo
) -> AsyncIterator[list[Sequence[Any]]]:
    async for chunk in request.config_dict[report_groups_view_key].export_rows(window):
        yield [_entry_cells(row, zone) for row in chunk]


@routes.get("/time-entries/export", allow_head=False)
@docs(
    tags=["time entries"],
    summary="Every matching time entry as a CSV or XLSX file (no pagination)",
    description="The list's filters, and `client_id`, `task_id`, `tag`, `tz`. Times are in "
    "`tz` (default: the user's `timezone`); a date-only `start_date`/`end_date` is that day "
    "in `tz`. Columns: " + ", ".join(f"`{c}`" for c in ENTRY_COLUMNS) + ". `hourly_rate` is "
    "the rate in force (project's, else client's default, else 0); `billable_amount` the "
    "entry's billable seconds times it, in cents rounded once (0 when not billable)." + _FORMAT_DOC,
    responses=FILE_RESPONSES,
)
@requires("read:time_entries")
@reads()  # the handler sets the header before the body streams
@querystring_schema(EntryExportQuery)
@response_schema(ErrorResponse, 400)
async def export_time_entries(request: web.Request) -> web.StreamResponse:
    query = request[query_key]
    caller = caller_of(request)
    view = request.config_dict[report_groups_view_key]
    position = (await request.config_dict[freshness_key].positions([READ_MODEL]))[READ_MODEL]
    tz = query.get("tz") or await view.user_timezone(caller.user_id) or "UTC"
    zone = ZoneInfo(tz)
    window = ReportWindow(
        start=_bound(query.get("start_date"), zone, upper=False),
        end=_bound(query.get("end_date"), zone, upper=True),
        tz=tz,
        user_ids=users_filter(caller, query.get("user_id")),
        project_ids=query.get("project_id"),
        client_ids=query.get("client_id"),
        task_ids=query.get("task_id"),
        tags=query.get("tag"),
        billable=query.get("billable"),
        include_active=query["include_active"],
    )
    return await stream_table(
        request,
        query["format"],
        "time-entries",
        ENTRY_COLUMNS,
        _entry_rows(request, window, zone),
        _headers(request, position),
    )


async def _listed(rows: list[Sequence[Any]]) -> AsyncIterator[list[Sequence[Any]]]:
    yield rows


@routes.get("/reports/summary/export", allow_head=False)
@docs(
    tags=["reports"],
    summary="A summary report as a CSV or XLSX file: one row per innermost group",
    description="The summary's parameters (`group_by` defaults to `project` here). Columns: "
    "the key fields of each level, outer first (e.g. `user_id`, `username`, `day`), then "
    + ", ".join(f"`{c}`" for c in SUM_COLUMNS)
    + " and `currency`; the same numbers as `GET /reports/summary`."
    + _FORMAT_DOC,
    responses=FILE_RESPONSES,
)
@requires("read:reports")
@reads()  # the handler sets the header before the body streams
@querystring_schema(ReportExportQuery)
@response_schema(ErrorResponse, 400)
async def export_summary(request: web.Request) -> web.StreamResponse:
    asked_for = await asked(request)
    if not asked_for.group_by:
        asked_for = dataclasses.replace(asked_for, group_by=("project",))
    _, grouped = await grouped_reports(request, asked_for)
    assert grouped is not None
    currency = request.config_dict[settings_key].currency
    groups = innermost(grouped.groups, {})
    header = [*_key_columns(asked_for.group_by), *SUM_COLUMNS, "currency"]
    rows: list[Sequence[Any]] = [[*(g.get(c) for c in header[:-1]), currency] for g in groups]
    filename = f"summary-{asked_for.first.isoformat()}-{asked_for.last.isoformat()}"
    return await stream_table(
        request,
        request[query_key]["format"],
        filename,
        header,
        _listed(rows),
        _headers(request, asked_for.position),
    )


def _key_columns(group_by: Sequence[str]) -> list[str]:
    names = {
        "project": ["project_id", "project_name"],
        "client": ["client_id", "client_name"],
        "task": ["task_id", "task_name"],
        "user": ["user_id", "username"],
    }
    return [column for key in group_by for column in names.get(key, [key])]
