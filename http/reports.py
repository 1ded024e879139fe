"""/api/v1/reports/summary: hours and money over a window of days, grouped by one or two keys,
in a time zone, from the report-groups read model.

With `as_of` the report is the one the store gave at that moment: the store position of the
moment comes from the time-travel read model's clock, and the sums from the entry and label
versions valid at that position, so later edits never change it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp_apigami import docs, querystring_schema, response_schema

from timetracker.eventlog.documents import rfc3339
from timetracker.http.access import caller_of, requires
from timetracker.http.as_of import position_at
from timetracker.http.caller import Caller
from timetracker.http.errors import ApiError, validation_error
from timetracker.http.keys import (
    freshness_key,
    query_key,
    report_groups_view_key,
    settings_key,
)
from timetracker.http.positions import reads
from timetracker.http.responses import json_response
from timetracker.http.schemas.common import ErrorResponse, TimeBound
from timetracker.http.schemas.reports import ReportQuery, SummaryResponse
from timetracker.http.time_entries import hours, user_filter
from timetracker.http.writes import POSITION_HEADER
from timetracker.projections.report_groups import ReportGroupsProjection
from timetracker.projections.report_groups_view import Group, GroupedReport, ReportWindow, Sums

routes = web.RouteTableDef()
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 3660
READ_MODEL = ReportGroupsProjection.name
_ID_FIELDS = {
    "project": ("project_id", "project_name"),
    "client": ("client_id", "client_name"),
    "task": ("task_id", "task_name"),
    "user": ("user_id", "username"),
}


def amount(cents: int) -> float:
    """Cents as a JSON number with 2 decimals (`12345` -> `123.45`)."""
    return cents / 100


def users_filter(caller: Caller, requested: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """Whose time a caller may sum: their own, or anyone's (everyone's with None) for admins."""
    if caller.is_admin:
        return requested
    for user_id in requested or ():
        user_filter(caller, user_id)  # 403 for anyone else's
    return (caller.user_id,)


def _day(bound: TimeBound, zone: ZoneInfo) -> date:
    """The day a bound names in the zone: its date, or the zone's day of its moment."""
    return bound.moment.date() if bound.date_only else bound.moment.astimezone(zone).date()


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first moment of `day` in the zone, in UTC."""
    return datetime.combine(day, time.min, zone).astimezone(UTC)


@dataclass(frozen=True)
class Asked:
    """What a report asks for, its window settled: the days, the zone, the filters, the
    position (None: current), and the position header the answer carries."""

    window: ReportWindow
    first: date
    last: date
    group_by: tuple[str, ...]
    moment: datetime | None
    position: int


async def asked(request: web.Request) -> Asked:
    """Read a report's query: the zone (the caller's by default), days, filters, position."""
    query = request[query_key]
    caller = caller_of(request)
    view = request.config_dict[report_groups_view_key]
    moment = query.get("as_of")
    position: int | None = None
    if moment is not None:
        position = await position_at(request, moment)
        await _caught_up(request, position)
        shown = position
    else:
        # A report kept for this position is answered (`report_at`): never one behind a
        # write another process has answered (read-your-writes).
        freshness = request.config_dict[freshness_key]
        shown = (await freshness.covering([READ_MODEL]))[READ_MODEL]
    tz = query.get("tz") or await view.user_timezone_at(caller.user_id, shown, position) or "UTC"
    zone = ZoneInfo(tz)
    today = (moment or datetime.now(UTC)).astimezone(zone).date()
    last = _day(query["end_date"], zone) if "end_date" in query else today
    first = (
        _day(query["start_date"], zone)
        if "start_date" in query
        else last - timedelta(days=DEFAULT_WINDOW_DAYS)
    )
    if first > last:
        raise validation_error({"end_date": ["Must not be before start_date."]})
    if (last - first).days >= MAX_WINDOW_DAYS:
        raise validation_error({"start_date": [f"The window is at most {MAX_WINDOW_DAYS} days."]})
    window = ReportWindow(
        start=local_midnight(first, zone),
        end=local_midnight(last + timedelta(days=1), zone),
        tz=tz,
        user_ids=users_filter(caller, query.get("user_id")),
        project_ids=query.get("project_id"),
        client_ids=query.get("client_id"),
        task_ids=query.get("task_id"),
        tags=query.get("tag"),
        billable=query.get("billable"),
        position=position,
        days=(first, last),
    )
    return Asked(window, first, last, tuple(query.get("group_by") or ()), moment, shown)


async def _caught_up(request: web.Request, position: int) -> None:
    """Wait until the read model has applied `position` (as the time-travel one has)."""
    freshness = request.config_dict[freshness_key]
    timeout = request.config_dict[settings_key].read_your_writes_timeout
    if not await freshness.wait_for([READ_MODEL], position, timeout):
        raise ApiError(
            503,
            "Service unavailable",
            "The report read model is catching up; try again shortly.",
            "read_model_unavailable",
            headers={"Retry-After": "1"},
        )


def sums_json(sums: Sums) -> dict[str, Any]:
    """A group's or a report's sums: hours rounded once, money in cents rounded once."""
    return {
        "hours": hours(sums.seconds),
        "billable_hours": hours(sums.billable_seconds),
        "entries": sums.entries,
        "billable_amount": amount(sums.cents),
    }


def key_json(group: Group) -> dict[str, Any]:
    """A group's key fields: an id and its label, or one value (`tag`, `day`, ...)."""
    if group.key in _ID_FIELDS:
        id_field, label_field = _ID_FIELDS[group.key]
        return {id_field: group.value, label_field: group.label}
    return {group.key: group.value}


def group_json(group: Group) -> dict[str, Any]:
    """A group with its key fields, sums and inner groups."""
    body = {**key_json(group), **sums_json(group.sums)}
    if group.groups is not None:
        body["groups"] = [group_json(g) for g in group.groups]
    return body


def summary_json(
    asked_for: Asked, by_project: GroupedReport, grouped: GroupedReport | None, currency: str
) -> dict[str, Any]:
    """The summary body: the contract's fields, money, and the groups asked for."""
    window, totals = asked_for.window, by_project.totals
    assert window.start is not None and window.end is not None
    summary: dict[str, Any] = {
        "start_date": rfc3339(window.start),
        "end_date": rfc3339(window.end - timedelta(seconds=1)),
        "tz": window.tz,
        "total_hours": hours(totals.seconds),
        "billable_hours": hours(totals.billable_seconds),
        "total_entries": totals.entries,
        "billable_amount": amount(totals.cents),
        "currency": currency,
        "by_project": [
            {
                "project_id": g.value,
                "project_name": g.label,
                **sums_json(g.sums),
            }
            for g in by_project.groups
        ],
    }
    if grouped is not None:
        summary["group_by"] = list(asked_for.group_by)
        summary["groups"] = [group_json(g) for g in grouped.groups]
    if asked_for.moment is not None:
        summary.update(as_of=rfc3339(asked_for.moment), position=asked_for.position)
    return summary


async def grouped_reports(
    request: web.Request, asked_for: Asked
) -> tuple[GroupedReport, GroupedReport | None]:
    """The per-project report and, when grouped otherwise, the grouped one."""
    view, window, version = (
        request.config_dict[report_groups_view_key],
        asked_for.window,
        asked_for.position,
    )
    by_project = await view.report_at(("project",), window, version)
    if not asked_for.group_by:
        return by_project, None
    if asked_for.group_by == ("project",):
        return by_project, by_project
    return by_project, await view.report_at(asked_for.group_by, window, version)


def innermost(groups: Sequence[Group], outer: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per innermost group: the key fields of every level and its sums."""
    rows = []
    for group in groups:
        keys = {**outer, **key_json(group)}
        if group.groups is not None:
            rows.extend(innermost(group.groups, keys))
        else:
            rows.append({**keys, **sums_json(group.sums)})
    return rows


@routes.get("/reports/summary", allow_head=False)
@docs(
    tags=["reports"],
    summary="Hours and money over a window of days, grouped by up to two keys",
    description="Default window: the last 30 days. Days are those of `tz` (default: the "
    "user's `timezone`, UTC unless set); a date-time bound counts its whole day. Normal users "
    "get their own time; admins everyone's unless `user_id` filters. Running timers are not "
    "counted. `billable_amount`: each billable entry's seconds times the rate in force (the "
    "project's `hourly_rate`, else its client's `default_hourly_rate`, else 0) in integer "
    "cents, rounded once per entry (half up), so groups add up to the totals to the cent; "
    "`currency` names the currency. With `group_by` the summary has `groups`; an entry with "
    "two tags counts in both tag groups (and once in the totals). With `as_of`, the report "
    "as it stood then (its store position in `position` and `X-Event-Position`).",
)
@requires("read:reports")
@reads()  # the handler sets the header: the read model's position, read before the sums
@querystring_schema(ReportQuery)
@response_schema(SummaryResponse, 200)
@response_schema(ErrorResponse, 400)
async def get_summary(request: web.Request) -> web.Response:
    asked_for = await asked(request)
    by_project, grouped = await grouped_reports(request, asked_for)
    currency = request.config_dict[settings_key].currency
    summary = summary_json(asked_for, by_project, grouped, currency)
    return json_response({"summary": summary}, headers={POSITION_HEADER: str(asked_for.position)})
