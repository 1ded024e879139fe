"""/api/v1/time-entries/bulk: record up to 1,000 finished entries, all or nothing."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apigami import docs, json_schema, response_schema

from timetracker.commands.messages import CreateEntries, NewEntry, Written
from timetracker.http.access import caller_of, requires
from timetracker.http.as_of import entry_row
from timetracker.http.keys import body_key, time_tracking_key
from timetracker.http.responses import json_response
from timetracker.http.schemas.bulk import BulkCreateEntriesRequest, BulkCreateEntriesResponse
from timetracker.http.schemas.common import ErrorResponse
from timetracker.http.time_entries import ENTRY_READ_MODELS, entry_json
from timetracker.http.writes import execute, settle, stamp_of

routes = web.RouteTableDef()


@routes.post("/time-entries/bulk")
@docs(
    tags=["time entries"],
    summary="Record up to 1,000 finished time entries in one request, all or nothing",
    description="Every item is checked as `POST /time-entries` checks one, and must have "
    "`end_time`. Any problem answers 400 with `errors` named by item "
    "(`time_entries[3].end_time`) and writes nothing; more than 1,000 items answer 413 "
    "`too_many_items`. The entries are saved in one transaction and answered in request "
    "order. Counts as one request against the rate limits.",
)
@requires("write:time_entries")
@json_schema(BulkCreateEntriesRequest)
@response_schema(BulkCreateEntriesResponse, 201)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 413)
async def create_entries(request: web.Request) -> web.Response:
    caller = caller_of(request)
    items = []
    for body in request[body_key]["time_entries"]:
        values = dict(body)
        items.append(NewEntry(user_id=values.pop("user_id", caller.user_id), values=values))
    command = CreateEntries(items=items, stamp=stamp_of(request))
    written = await execute(request, request.config_dict[time_tracking_key].create_entries, command)
    last = written.entries[-1]
    headers = await settle(request, Written(last.number, 1, written.position), ENTRY_READ_MODELS)
    headers.pop("ETag", None)  # many resources: no one version to name
    # Answered from the saved aggregates (the read models show the same once settled).
    entries = [entry_json(entry_row(entry)) for entry in written.entries]
    body = {"message": f"{len(entries)} time entries created", "time_entries": entries}
    return json_response(body, status=201, headers=headers)
