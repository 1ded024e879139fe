"""/api/v1/timer: the caller's running timer: status, start, stop."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apigami import docs, json_schema, response_schema

from timetracker.commands.messages import CreateEntry, StopTimer
from timetracker.http.access import caller_of, requires
from timetracker.http.keys import body_key, running_timers_view_key, time_tracking_key
from timetracker.http.paths import api_path
from timetracker.http.positions import reads
from timetracker.http.responses import json_response
from timetracker.http.schemas.common import ErrorResponse
from timetracker.http.schemas.time_entries import (
    EntryWriteResponse,
    StartTimerRequest,
    TimerStartResponse,
    TimerStatusResponse,
)
from timetracker.http.time_entries import ENTRY_READ_MODELS, entry_or_404, written_entry
from timetracker.http.writes import execute, settle, stamp_of

routes = web.RouteTableDef()


@routes.get("/timer/status", allow_head=False)
@docs(tags=["timer"], summary="The caller's running timer, if any")
@requires("read:time_entries")
@reads("running_timers", "time_entries")
@response_schema(TimerStatusResponse, 200)
async def get_timer_status(request: web.Request) -> web.Response:
    caller = caller_of(request)
    entry_id = await request.config_dict[running_timers_view_key].running_entry_id(caller.user_id)
    if entry_id is None:
        return json_response({"active": False, "timer": None})
    return json_response({"active": True, "timer": await entry_or_404(request, entry_id)})


@routes.post("/timer/start")
@docs(tags=["timer"], summary="Start a timer now (409 timer_already_running if one runs)")
@requires("write:time_entries")
@json_schema(StartTimerRequest)
@response_schema(TimerStartResponse, 201)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 409)
async def start_timer(request: web.Request) -> web.Response:
    command = CreateEntry(
        user_id=caller_of(request).user_id, values=request[body_key], stamp=stamp_of(request)
    )
    written = await execute(request, request.config_dict[time_tracking_key].start_timer, command)
    headers = await settle(request, written, ENTRY_READ_MODELS)
    headers["Location"] = api_path(f"/time-entries/{written.id}")
    timer = await written_entry(request, written, headers)
    body = {"message": "Timer started successfully", "timer": timer}
    return json_response(body, status=201, headers=headers)


@routes.post("/timer/stop")
@docs(tags=["timer"], summary="Stop the running timer (409 no_active_timer if none runs)")
@requires("write:time_entries")
@response_schema(EntryWriteResponse, 200)
@response_schema(ErrorResponse, 409)
async def stop_timer(request: web.Request) -> web.Response:
    command = StopTimer(user_id=caller_of(request).user_id, stamp=stamp_of(request))
    written = await execute(request, request.config_dict[time_tracking_key].stop_timer, command)
    headers = await settle(request, written, ENTRY_READ_MODELS)
    entry = await written_entry(request, written, headers)
    body = {"message": "Timer stopped successfully", "time_entry": entry}
    return json_response(body, headers=headers)
