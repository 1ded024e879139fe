"""/api/v1/time-entries: list, read, record, edit and delete time."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apigami import (
    docs,
    json_schema,
    match_info_schema,
    querystring_schema,
    response_schema,
)

from timetracker.commands.messages import (
    CreateEntry,
    DeleteEntry,
    EditEntry,
    RestoreEntry,
    RevertEntry,
    Written,
)
from timetracker.domain.entry import Entry
from timetracker.http.access import caller_of, requires
from timetracker.http.as_of import (
    answered_at,
    as_of_headers,
    as_of_json,
    entry_row,
    past,
    position_at,
)
from timetracker.http.caller import Caller
from timetracker.http.errors import ApiError, deleted, not_found, validation_error
from timetracker.http.keys import (
    body_key,
    event_log_key,
    path_key,
    query_key,
    read_position_key,
    time_entries_view_key,
    time_tracking_key,
)
from timetracker.http.pagination import page_args, pagination
from timetracker.http.paths import api_path, history_url
from timetracker.http.positions import reads
from timetracker.http.responses import json_response, list_response, utc
from timetracker.http.schemas.audit import AsOfQuery, RevertEntryRequest
from timetracker.http.schemas.common import ErrorResponse, MessageResponse, path_id
from timetracker.http.schemas.time_entries import (
    CreateEntryRequest,
    EntryListQuery,
    EntryListResponse,
    EntryResponse,
    EntryWriteResponse,
    UpdateEntryRequest,
)
from timetracker.http.writes import etag, execute, expected_version, settle, shown, stamp_of
from timetracker.projections.time_entries import EntryFilter

routes = web.RouteTableDef()
# An entry write shows in the list, the running timer and the reports (report_groups; the
# older report_rollups are kept up to date but answer no request, so no write waits for them).
ENTRY_READ_MODELS = ("time_entries", "running_timers", "report_groups")
EntryPath = path_id("entry_id")


def hours(seconds: int) -> float:
    """Seconds as hours, rounded once to 2 decimals, halves away from zero (3 x 20 minutes
    is 1.0, not 0.99): hundredths of an hour are 36 seconds, so integers do it exactly."""
    hundredths = (abs(seconds) + 18) // 36
    return (hundredths if seconds >= 0 else -hundredths) / 100


def entry_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API representation of a time-entries read-model row."""
    duration = row["duration_seconds"]
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "project_id": row["project_id"],
        "task_id": row["task_id"],
        "start_time": utc(row["start_time"]),
        "end_time": utc(row["end_time"]),
        "duration_seconds": duration,
        "duration_hours": None if duration is None else hours(duration),
        "notes": row["notes"],
        "tags": row["tags"],
        "tag_list": row["tags"].split(",") if row["tags"] else [],
        "billable": row["billable"],
        "is_active": row["end_time"] is None,
        "source": row["source"],
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
        "version": row["version"],
    }


async def written_entry(
    request: web.Request, written: Written, headers: dict[str, str]
) -> dict[str, Any]:
    """The written entry for a write's response: built from the aggregate the command saved
    (the read model shows exactly this once settled), else read back from the read model."""
    if isinstance(written.saved, Entry):
        return entry_json(entry_row(written.saved))
    return await shown(request, written, headers, lambda: entry_or_404(request, written.id))


def _visible_to(caller: Caller, user_id: int) -> bool:
    return user_id == caller.user_id or caller.is_admin


async def entry_or_404(request: web.Request, entry_id: int) -> dict[str, Any]:
    """An entry the caller may see (their own, or anyone's for an admin)."""
    row = await request.config_dict[time_entries_view_key].get(entry_id)
    caller = caller_of(request)
    if row is None or not _visible_to(caller, row["user_id"]):
        raise not_found(f"Time entry {entry_id} not found.")
    return entry_json(row)


def _entry_gone(entry: Any, caller: Caller, entry_id: int) -> ApiError:
    """404 for an entry missing from the answer: `deleted` (with its history) if the
    caller may know it was, `not_found` otherwise."""
    if isinstance(entry, Entry) and _visible_to(caller, entry.user_id) and entry.deleted:
        return deleted(
            f"Time entry {entry_id} was deleted; its history remains.",
            history_url("time_entry", entry_id),
        )
    return not_found(f"Time entry {entry_id} not found.")


async def _entry_as_of(request: web.Request, entry_id: int) -> web.Response:
    moment = request[query_key]["as_of"]
    position = await position_at(request, moment)
    entry = await past(request, "time_entry", entry_id, position)
    caller = caller_of(request)
    if not isinstance(entry, Entry) or entry.deleted or not _visible_to(caller, entry.user_id):
        raise answered_at(_entry_gone(entry, caller, entry_id), position)
    body = {"time_entry": entry_json(entry_row(entry)), "as_of": as_of_json(moment, position)}
    return json_response(body, headers=as_of_headers(entry.version, position))


def user_filter(caller: Caller, requested: int | None) -> int | None:
    """Whose data a caller may ask for: their own, or anyone's (all with None) for admins."""
    if caller.is_admin:
        return requested
    if requested is not None and requested != caller.user_id:
        raise ApiError(403, "Forbidden", "Only admins may filter by another user.", "forbidden")
    return caller.user_id


@routes.get("/time-entries", allow_head=False)
@reads("time_entries")
@docs(
    tags=["time entries"],
    summary="List time entries, latest start first",
    description="Normal users see their own entries; admins everyone's (`user_id` filters). "
    "`start_date`/`end_date` take a date (whole day, inclusive) or a date-time and filter on "
    "`start_time`. Running entries are listed only with `include_active=true`.",
)
@requires("read:time_entries")
@querystring_schema(EntryListQuery)
@response_schema(EntryListResponse, 200)
@response_schema(ErrorResponse, 400)
async def list_entries(request: web.Request) -> web.Response:
    query = request[query_key]
    page, per_page = page_args(query)
    start, end = query.get("start_date"), query.get("end_date")
    entry_filter = EntryFilter(
        user_id=user_filter(caller_of(request), query.get("user_id")),
        project_id=query.get("project_id"),
        start=None if start is None else start.from_start(),
        end=None if end is None else end.until_end(),
        billable=query.get("billable"),
        include_active=query["include_active"],
    )
    result = await request.config_dict[time_entries_view_key].list_json(
        entry_filter, page, per_page, request.get(read_position_key)
    )
    return list_response("time_entries", result.json, pagination(page, per_page, result.total))


# `{entry_id}` takes anything but "bulk" and "export", so another method on those resources
# (`PUT /time-entries/export`) is their 405, not a request for an entry of that name; any
# other bad id is still a 400 naming `entry_id`.
ENTRY_PATH = r"/time-entries/{entry_id:(?!(?:bulk|export)$)[^{}/]+}"


@routes.get(ENTRY_PATH, allow_head=False)
@docs(
    tags=["time entries"],
    summary="Get one time entry (as it is, or as it was at `as_of`)",
    description="A deleted entry answers 404 `deleted` with `history_url`. With `as_of` the "
    "entry is shown as it was then, with an `as_of` block naming the store position.",
)
@requires("read:time_entries")
@reads("time_entries")
@match_info_schema(EntryPath)
@querystring_schema(AsOfQuery)
@response_schema(EntryResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
async def get_entry(request: web.Request) -> web.Response:
    entry_id = request[path_key]["entry_id"]
    if "as_of" in request[query_key]:
        return await _entry_as_of(request, entry_id)
    row = await request.config_dict[time_entries_view_key].get(entry_id)
    caller = caller_of(request)
    if row is None or not _visible_to(caller, row["user_id"]):
        # The stream says whether it was deleted (lists and reports no longer show it).
        entry = await execute(
            request, request.config_dict[event_log_key].state_at, Entry.create_id(entry_id)
        )
        raise _entry_gone(entry, caller, entry_id)
    return json_response({"time_entry": entry_json(row)}, headers={"ETag": etag(row["version"])})


@routes.post("/time-entries")
@docs(
    tags=["time entries"],
    summary="Record time; without `end_time` it starts a timer",
    description="`user_id` (admins only) records time for another user.",
)
@requires("write:time_entries")
@json_schema(CreateEntryRequest)
@response_schema(EntryWriteResponse, 201)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 409)
async def create_entry(request: web.Request) -> web.Response:
    caller = caller_of(request)
    body = request[body_key]
    values = dict(body)
    user_id = values.pop("user_id", caller.user_id)
    if user_id != caller.user_id and not caller.is_admin:
        raise validation_error({"user_id": ["Only admins may record time for other users."]})
    command = CreateEntry(user_id=user_id, values=values, stamp=stamp_of(request))
    written = await execute(request, request.config_dict[time_tracking_key].create_entry, command)
    headers = await settle(request, written, ENTRY_READ_MODELS)
    headers["Location"] = api_path(f"/time-entries/{written.id}")
    entry = await written_entry(request, written, headers)
    body = {"message": "Time entry created successfully", "time_entry": entry}
    return json_response(body, status=201, headers=headers)


@routes.put(ENTRY_PATH)
@routes.patch(ENTRY_PATH)
@docs(tags=["time entries"], summary="Edit a time entry (only the fields sent change)")
@requires("write:time_entries")
@match_info_schema(EntryPath)
@json_schema(UpdateEntryRequest)
@response_schema(EntryWriteResponse, 200)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 409)
@response_schema(ErrorResponse, 412)
async def edit_entry(request: web.Request) -> web.Response:
    command = EditEntry(
        entry_id=request[path_key]["entry_id"],
        values=request[body_key],
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(request, request.config_dict[time_tracking_key].edit_entry, command)
    headers = await settle(request, written, ENTRY_READ_MODELS)
    entry = await written_entry(request, written, headers)
    body = {"message": "Time entry updated successfully", "time_entry": entry}
    return json_response(body, headers=headers)


@routes.delete(ENTRY_PATH)
@docs(tags=["time entries"], summary="Delete a time entry (gone from lists and reports)")
@requires("write:time_entries")
@match_info_schema(EntryPath)
@response_schema(MessageResponse, 200)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 412)
async def delete_entry(request: web.Request) -> web.Response:
    command = DeleteEntry(
        entry_id=request[path_key]["entry_id"],
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(request, request.config_dict[time_tracking_key].delete_entry, command)
    headers = await settle(request, written, ENTRY_READ_MODELS)
    return json_response({"message": "Time entry deleted successfully"}, headers=headers)


@routes.post("/time-entries/{entry_id}/restore")
@docs(
    tags=["time entries"],
    summary="Bring back a deleted time entry (event EntryRestored)",
    description="Its project must not be archived (409 `project_archived`). An entry without "
    "an end runs again, which starts the user's timer (409 `timer_already_running` if one "
    "runs). 409 `not_deleted` if the entry is not deleted.",
)
@requires("write:time_entries")
@match_info_schema(EntryPath)
@response_schema(EntryWriteResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 409)
@response_schema(ErrorResponse, 412)
async def restore_entry(request: web.Request) -> web.Response:
    command = RestoreEntry(
        entry_id=request[path_key]["entry_id"],
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(request, request.config_dict[time_tracking_key].restore_entry, command)
    headers = await settle(request, written, ENTRY_READ_MODELS)
    entry = await shown(request, written, headers, lambda: entry_or_404(request, written.id))
    body = {"message": "Time entry restored successfully", "time_entry": entry}
    return json_response(body, headers=headers)


@routes.post("/time-entries/{entry_id}/revert")
@docs(
    tags=["time entries"],
    summary="Give a time entry the fields of an earlier version (a new EntryEdited)",
    description="Only the fields that differ change; every rule of an edit applies. "
    "Reverting to the current version changes nothing and writes no event.",
)
@requires("write:time_entries")
@match_info_schema(EntryPath)
@json_schema(RevertEntryRequest)
@response_schema(EntryWriteResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 409)
@response_schema(ErrorResponse, 412)
async def revert_entry(request: web.Request) -> web.Response:
    version = request[body_key]["version"]
    command = RevertEntry(
        entry_id=request[path_key]["entry_id"],
        version=version,
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(request, request.config_dict[time_tracking_key].revert_entry, command)
    headers = await settle(request, written, ENTRY_READ_MODELS)
    entry = await written_entry(request, written, headers)
    body = {"message": f"Time entry reverted to version {version}", "time_entry": entry}
    return json_response(body, headers=headers)
