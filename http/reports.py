"""/api/v1/reports/summary: hours per project over a window of days, from the rollups.

With `as_of` the report is the one the store gave at that moment: summed from the entry
versions valid at the moment's store position (the time-travel read model), so later
edits never change it.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from aiohttp import web
from aiohttp_apigami import docs, querystring_schema, response_schema

from timetracker.eventlog.documents import rfc3339
from timetracker.http.access import caller_of, requires
from timetracker.http.as_of import position_at
from timetracker.http.errors import validation_error
from timetracker.http.keys import (
    freshness_key,
    projects_view_key,
    query_key,
    report_rollups_view_key,
    time_travel_view_key,
)
from timetracker.http.positions import reads
from timetracker.http.responses import json_response
from timetracker.http.schemas.common import ErrorResponse
from timetracker.http.schemas.time_entries import SummaryQuery, SummaryResponse
from timetracker.http.time_entries import hours, user_filter
from timetracker.http.writes import POSITION_HEADER

routes = web.RouteTableDef()
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 3660


@routes.get("/reports/summary", allow_head=False)
@docs(
    tags=["reports"],
    summary="Hours per project over a window of whole UTC days",
    description="Default window: the last 30 days. Days are UTC; a date-time bound counts its "
    "whole day. Normal users get their own time; admins everyone's unless `user_id` filters. "
    "Running timers are not counted. With `as_of`, the report as it stood then (its store "
    "position in `position` and `X-Event-Position`); later changes never alter it.",
)
@requires("read:reports")
@reads()  # the rollups' position comes with their sums; the handler sets the header
@querystring_schema(SummaryQuery)
@response_schema(SummaryResponse, 200)
@response_schema(ErrorResponse, 400)
async def get_summary(request: web.Request) -> web.Response:
    query = request[query_key]
    moment = query.get("as_of")
    today = (moment or datetime.now(UTC)).date()
    last = query["end_date"].moment.date() if "end_date" in query else today
    first = (
        query["start_date"].moment.date()
        if "start_date" in query
        else last - timedelta(days=DEFAULT_WINDOW_DAYS)
    )
    if first > last:
        raise validation_error({"end_date": ["Must not be before start_date."]})
    if (last - first).days >= MAX_WINDOW_DAYS:
        raise validation_error({"start_date": [f"The window is at most {MAX_WINDOW_DAYS} days."]})
    user_id = user_filter(caller_of(request), query.get("user_id"))
    headers: dict[str, str] = {}
    if moment is None:
        named = (await request.config_dict[freshness_key].positions(["projects"]))["projects"]
        summed, totals = await request.config_dict[report_rollups_view_key].totals_at(
            first, last, user_id, query.get("project_id")
        )
        names = await request.config_dict[projects_view_key].names([t.project_id for t in totals])
        headers[POSITION_HEADER] = str(min(named, summed))
    else:
        position = await position_at(request, moment)
        past = request.config_dict[time_travel_view_key]
        totals = await past.totals(first, last, user_id, query.get("project_id"), position)
        names = await past.project_names([t.project_id for t in totals], position)
        headers[POSITION_HEADER] = str(position)
    seconds = sum(t.seconds for t in totals)
    billable = sum(t.billable_seconds for t in totals)
    summary = {
        "start_date": rfc3339(datetime.combine(first, time.min, UTC)),
        "end_date": rfc3339(datetime.combine(last, time(23, 59, 59), UTC)),
        "total_hours": hours(seconds),
        "billable_hours": hours(billable),
        "total_entries": sum(t.entries for t in totals),
        "by_project": [
            {
                "project_id": t.project_id,
                "project_name": names.get(t.project_id),
                "hours": hours(t.seconds),
                "billable_hours": hours(t.billable_seconds),
                "entries": t.entries,
            }
            for t in totals
        ],
    }
    if moment is not None:
        summary.update(as_of=rfc3339(moment), position=int(headers[POSITION_HEADER]))
    return json_response({"summary": summary}, headers=headers)
