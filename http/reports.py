"""/api/v1/reports/summary: hours per project over a window of days, from the rollups."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from aiohttp import web
from aiohttp_apigami import docs, querystring_schema, response_schema

from timetracker.http.access import caller_of, requires
from timetracker.http.errors import validation_error
from timetracker.http.keys import projects_view_key, query_key, report_rollups_view_key
from timetracker.http.responses import json_response, rfc3339
from timetracker.http.schemas.common import ErrorResponse
from timetracker.http.schemas.time_entries import SummaryQuery, SummaryResponse
from timetracker.http.time_entries import hours, user_filter

routes = web.RouteTableDef()
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 3660


@routes.get("/api/v1/reports/summary", allow_head=False)
@docs(
    tags=["reports"],
    summary="Hours per project over a window of whole UTC days",
    description="Default window: the last 30 days. Days are UTC; a date-time bound counts its "
    "whole day. Normal users get their own time; admins everyone's unless `user_id` filters. "
    "Running timers are not counted.",
)
@requires("read:reports")
@querystring_schema(SummaryQuery)
@response_schema(SummaryResponse, 200)
@response_schema(ErrorResponse, 400)
async def get_summary(request: web.Request) -> web.Response:
    query = request[query_key]
    today = datetime.now(UTC).date()
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
    totals = await request.app[report_rollups_view_key].totals(
        first, last, user_id, query.get("project_id")
    )
    names = await request.app[projects_view_key].names([t.project_id for t in totals])
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
    return json_response({"summary": summary})
