"""History of one resource: every version, oldest first, with who changed what.

`GET /api/v1/{time-entries,projects,tasks,clients}/{id}/history`, read from the resource's
own stream in the event store (the record itself), with the same scope as reading the
resource. Deleted resources keep their history; a normal user never sees another
user's time entries, nor learns that they exist.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp_apigami import docs, match_info_schema, response_schema

from timetracker.domain.kinds import kind_named
from timetracker.domain.values import aggregate_id
from timetracker.eventlog.documents import version_json
from timetracker.http.access import caller_of, requires
from timetracker.http.clients import ClientPath
from timetracker.http.errors import not_found
from timetracker.http.keys import event_log_key, path_key
from timetracker.http.positions import reads
from timetracker.http.projects import ProjectPath
from timetracker.http.responses import json_response
from timetracker.http.schemas.audit import HistoryResponse
from timetracker.http.schemas.common import ErrorResponse, path_id
from timetracker.http.tasks import TaskPath
from timetracker.http.time_entries import EntryPath
from timetracker.http.writes import POSITION_HEADER, execute

routes = web.RouteTableDef()
_DESCRIPTION = (
    "Every version in order: `version`, `event` (such as `{event}`), `at`, `position` in the "
    "store, `actor` (`user_id`, `username`, `token_prefix`), `request_id` and `changes` "
    '(`{{"field": {{"from": x, "to": y}}}}`). {extra}`X-Event-Position` is the store head '
    "the history was read at."
)


async def _history(request: web.Request, kind: str, number: int, label: str) -> web.Response:
    read = request.config_dict[event_log_key].current_history
    head, versions = await execute(request, read, aggregate_id(kind, number))
    caller = caller_of(request)
    if not versions:
        raise not_found(f"{label} {number} not found.")
    first = versions[0].logged.event
    owner = getattr(first, "user_id", getattr(first, "owner_id", None))
    if kind_named(kind).own_only and owner != caller.user_id and not caller.is_admin:
        raise not_found(f"{label} {number} not found.")
    body = {
        "resource": kind,
        "resource_id": number,
        "deleted": versions[-1].logged.type.name.endswith("Deleted"),
        "history": [version_json(v) for v in versions],
    }
    return json_response(body, headers={POSITION_HEADER: str(head)})


@routes.get("/time-entries/{entry_id}/history", allow_head=False)
@docs(
    tags=["history"],
    summary="Every version of a time entry, deleted ones too",
    description=_DESCRIPTION.format(
        event="EntryEdited", extra="Normal users see their own entries' history only. "
    ),
)
@requires("read:time_entries")
@reads()
@match_info_schema(EntryPath)
@response_schema(HistoryResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
async def get_entry_history(request: web.Request) -> web.Response:
    return await _history(request, "time_entry", request[path_key]["entry_id"], "Time entry")


@routes.get("/projects/{project_id}/history", allow_head=False)
@docs(
    tags=["history"],
    summary="Every version of a project",
    description=_DESCRIPTION.format(event="ProjectUpdated", extra=""),
)
@requires("read:projects")
@reads()
@match_info_schema(ProjectPath)
@response_schema(HistoryResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
async def get_project_history(request: web.Request) -> web.Response:
    return await _history(request, "project", request[path_key]["project_id"], "Project")


@routes.get("/tasks/{task_id}/history", allow_head=False)
@docs(
    tags=["history"],
    summary="Every version of a task, deleted ones too",
    description=_DESCRIPTION.format(event="TaskUpdated", extra=""),
)
@requires("read:tasks")
@reads()
@match_info_schema(TaskPath)
@response_schema(HistoryResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
async def get_task_history(request: web.Request) -> web.Response:
    return await _history(request, "task", request[path_key]["task_id"], "Task")


@routes.get("/clients/{client_id}/history", allow_head=False)
@docs(
    tags=["history"],
    summary="Every version of a client",
    description=_DESCRIPTION.format(event="ClientUpdated", extra=""),
)
@requires("read:clients")
@reads()
@match_info_schema(ClientPath)
@response_schema(HistoryResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
async def get_client_history(request: web.Request) -> web.Response:
    return await _history(request, "client", request[path_key]["client_id"], "Client")


@routes.get("/webhooks/{webhook_id}/history", allow_head=False)
@docs(
    tags=["webhooks"],
    summary="Every version of a webhook subscription, deleted ones too (never its secret)",
    description=_DESCRIPTION.format(
        event="WebhookUpdated", extra="Normal users see their own webhooks' history only. "
    ),
)
@requires("read:webhooks")
@reads()
@match_info_schema(path_id("webhook_id"))
@response_schema(HistoryResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
async def get_webhook_history(request: web.Request) -> web.Response:
    return await _history(request, "webhook", request[path_key]["webhook_id"], "Webhook")
