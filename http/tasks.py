"""/api/v1/tasks: list, read, create, update and delete tasks."""

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

from timetracker.commands.messages import CreateTask, DeleteTask, UpdateTask
from timetracker.domain.task import Task
from timetracker.http.access import requires
from timetracker.http.as_of import (
    answered_at,
    as_of_headers,
    as_of_json,
    past,
    position_at,
    task_row,
)
from timetracker.http.errors import ApiError, deleted, not_found
from timetracker.http.keys import (
    body_key,
    event_log_key,
    path_key,
    query_key,
    read_position_key,
    tasks_view_key,
    time_tracking_key,
)
from timetracker.http.pagination import page_args, pagination
from timetracker.http.paths import api_path, history_url
from timetracker.http.positions import reads
from timetracker.http.responses import json_response, list_response, utc
from timetracker.http.schemas.audit import AsOfQuery
from timetracker.http.schemas.common import ErrorResponse, MessageResponse, path_id
from timetracker.http.schemas.tasks import (
    CreateTaskRequest,
    TaskListQuery,
    TaskListResponse,
    TaskResponse,
    TaskWriteResponse,
    UpdateTaskRequest,
)
from timetracker.http.writes import etag, execute, expected_version, settle, shown, stamp_of

routes = web.RouteTableDef()
TASKS = ("tasks", "report_groups")
TaskPath = path_id("task_id")


def task_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API representation of a tasks read-model row."""
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "name": row["name"],
        "description": row["description"],
        "status": row["status"],
        "priority": row["priority"],
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
        "version": row["version"],
    }


def _task_gone(task: Any, task_id: int) -> ApiError:
    """404 for a task missing from the answer: `deleted` (with its history) if it was."""
    if isinstance(task, Task) and task.deleted:
        return deleted(
            f"Task {task_id} was deleted; its history remains.",
            history_url("task", task_id),
        )
    return not_found(f"Task {task_id} not found.")


async def _task_or_404(request: web.Request, task_id: int) -> dict[str, Any]:
    row = await request.config_dict[tasks_view_key].get(task_id)
    if row is None:
        raise not_found(f"Task {task_id} not found.")
    return task_json(row)


@routes.get("/tasks", allow_head=False)
@reads("tasks")
@docs(tags=["tasks"], summary="List tasks, by priority (urgent first) then name")
@requires("read:tasks")
@querystring_schema(TaskListQuery)
@response_schema(TaskListResponse, 200)
@response_schema(ErrorResponse, 400)
async def list_tasks(request: web.Request) -> web.Response:
    query = request[query_key]
    page, per_page = page_args(query)
    result = await request.config_dict[tasks_view_key].list_json(
        query.get("project_id"), query.get("status"), page, per_page, request.get(read_position_key)
    )
    return list_response("tasks", result.json, pagination(page, per_page, result.total))


@routes.get("/tasks/{task_id}", allow_head=False)
@docs(
    tags=["tasks"],
    summary="Get one task (as it is, or as it was at `as_of`)",
    description="A deleted task answers 404 `deleted` with `history_url`. With `as_of` the "
    "task is shown as it was then, with an `as_of` block naming the store position.",
)
@requires("read:tasks")
@reads("tasks")
@match_info_schema(TaskPath)
@querystring_schema(AsOfQuery)
@response_schema(TaskResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
async def get_task(request: web.Request) -> web.Response:
    task_id = request[path_key]["task_id"]
    moment = request[query_key].get("as_of")
    if moment is not None:
        position = await position_at(request, moment)
        then = await past(request, "task", task_id, position)
        if not isinstance(then, Task) or then.deleted:
            raise answered_at(_task_gone(then, task_id), position)
        body = {"task": task_json(task_row(then)), "as_of": as_of_json(moment, position)}
        return json_response(body, headers=as_of_headers(then.version, position))
    row = await request.config_dict[tasks_view_key].get(task_id)
    if row is None:
        # The stream says whether it was deleted (lists no longer show it).
        now = await execute(
            request, request.config_dict[event_log_key].state_at, Task.create_id(task_id)
        )
        raise _task_gone(now, task_id)
    return json_response({"task": task_json(row)}, headers={"ETag": etag(row["version"])})


@routes.post("/tasks")
@docs(tags=["tasks"], summary="Create a task in a project")
@requires("write:tasks")
@json_schema(CreateTaskRequest)
@response_schema(TaskWriteResponse, 201)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 409)
async def create_task(request: web.Request) -> web.Response:
    body = request[body_key]
    values = dict(body)
    command = CreateTask(values.pop("project_id"), values, stamp_of(request))
    written = await execute(request, request.config_dict[time_tracking_key].create_task, command)
    headers = await settle(request, written, TASKS)
    headers["Location"] = api_path(f"/tasks/{written.id}")
    task = await shown(request, written, headers, lambda: _task_or_404(request, written.id))
    body = {"message": "Task created successfully", "task": task}
    return json_response(body, status=201, headers=headers)


@routes.put("/tasks/{task_id}")
@routes.patch("/tasks/{task_id}")
@docs(tags=["tasks"], summary="Update a task (only the fields sent change)")
@requires("write:tasks")
@match_info_schema(TaskPath)
@json_schema(UpdateTaskRequest)
@response_schema(TaskWriteResponse, 200)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 412)
async def update_task(request: web.Request) -> web.Response:
    command = UpdateTask(
        task_id=request[path_key]["task_id"],
        values=request[body_key],
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(request, request.config_dict[time_tracking_key].update_task, command)
    headers = await settle(request, written, TASKS)
    task = await shown(request, written, headers, lambda: _task_or_404(request, written.id))
    return json_response({"message": "Task updated successfully", "task": task}, headers=headers)


@routes.delete("/tasks/{task_id}")
@docs(tags=["tasks"], summary="Delete a task (its time entries stay)")
@requires("write:tasks")
@match_info_schema(TaskPath)
@response_schema(MessageResponse, 200)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 412)
async def delete_task(request: web.Request) -> web.Response:
    command = DeleteTask(
        task_id=request[path_key]["task_id"],
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(request, request.config_dict[time_tracking_key].delete_task, command)
    headers = await settle(request, written, TASKS)
    return json_response({"message": "Task deleted successfully"}, headers=headers)
