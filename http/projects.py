"""/api/v1/projects: list, read, create, update and archive projects."""

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

from timetracker.commands.messages import ArchiveProject, CreateProject, UpdateProject
from timetracker.domain.client import Client
from timetracker.domain.project import Project
from timetracker.eventlog.documents import number
from timetracker.http.access import requires
from timetracker.http.as_of import (
    answered_at,
    as_of_headers,
    as_of_json,
    past,
    position_at,
    project_row,
)
from timetracker.http.errors import not_found
from timetracker.http.keys import (
    body_key,
    path_key,
    projects_view_key,
    query_key,
    read_position_key,
    time_tracking_key,
)
from timetracker.http.pagination import page_args, pagination
from timetracker.http.paths import api_path
from timetracker.http.positions import reads
from timetracker.http.responses import json_response, list_response, utc
from timetracker.http.schemas.audit import AsOfQuery
from timetracker.http.schemas.common import ErrorResponse, MessageResponse, path_id
from timetracker.http.schemas.projects import (
    CreateProjectRequest,
    ProjectListQuery,
    ProjectListResponse,
    ProjectResponse,
    ProjectWriteResponse,
    UpdateProjectRequest,
)
from timetracker.http.writes import etag, execute, expected_version, settle, shown, stamp_of

routes = web.RouteTableDef()
PROJECTS = ("projects", "report_groups")
ProjectPath = path_id("project_id")


def project_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API representation of a projects read-model row."""
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "client_id": row["client_id"],
        "client": row["client"],
        "hourly_rate": number(row["hourly_rate"]),
        "estimated_hours": number(row["estimated_hours"]),
        "billable": row["billable"],
        "status": row["status"],
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
        "archived_at": utc(row["archived_at"]),
        "version": row["version"],
    }


async def _project_or_404(request: web.Request, project_id: int) -> dict[str, Any]:
    row = await request.config_dict[projects_view_key].get(project_id)
    if row is None:
        raise not_found(f"Project {project_id} not found.")
    return project_json(row)


@routes.get("/projects", allow_head=False)
@reads("projects", "clients")
@docs(tags=["projects"], summary="List projects (every status unless `status` filters)")
@requires("read:projects")
@querystring_schema(ProjectListQuery)
@response_schema(ProjectListResponse, 200)
@response_schema(ErrorResponse, 400)
async def list_projects(request: web.Request) -> web.Response:
    query = request[query_key]
    page, per_page = page_args(query)
    result = await request.config_dict[projects_view_key].list_json(
        query.get("status"), query.get("client_id"), page, per_page, request.get(read_position_key)
    )
    return list_response("projects", result.json, pagination(page, per_page, result.total))


@routes.get("/projects/{project_id}", allow_head=False)
@docs(
    tags=["projects"],
    summary="Get one project (as it is, or as it was at `as_of`)",
    description="With `as_of` the project (and its client's name) is shown as it was then, "
    "with an `as_of` block naming the store position.",
)
@requires("read:projects")
@reads("projects", "clients")
@match_info_schema(ProjectPath)
@querystring_schema(AsOfQuery)
@response_schema(ProjectResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
async def get_project(request: web.Request) -> web.Response:
    project_id = request[path_key]["project_id"]
    moment = request[query_key].get("as_of")
    if moment is not None:
        position = await position_at(request, moment)
        then = await past(request, "project", project_id, position)
        if not isinstance(then, Project):
            raise answered_at(not_found(f"Project {project_id} did not exist then."), position)
        client = None
        if then.client_id is not None:
            client = await past(request, "client", then.client_id, position)
        row = project_row(then, client if isinstance(client, Client) else None)
        body = {"project": project_json(row), "as_of": as_of_json(moment, position)}
        return json_response(body, headers=as_of_headers(then.version, position))
    project = await _project_or_404(request, project_id)
    return json_response({"project": project}, headers={"ETag": etag(project["version"])})


@routes.post("/projects")
@docs(tags=["projects"], summary="Create a project")
@requires("write:projects")
@json_schema(CreateProjectRequest)
@response_schema(ProjectWriteResponse, 201)
@response_schema(ErrorResponse, 400)
async def create_project(request: web.Request) -> web.Response:
    command = CreateProject(values=request[body_key], stamp=stamp_of(request))
    written = await execute(request, request.config_dict[time_tracking_key].create_project, command)
    headers = await settle(request, written, PROJECTS)
    headers["Location"] = api_path(f"/projects/{written.id}")
    project = await shown(request, written, headers, lambda: _project_or_404(request, written.id))
    body = {"message": "Project created successfully", "project": project}
    return json_response(body, status=201, headers=headers)


@routes.put("/projects/{project_id}")
@routes.patch("/projects/{project_id}")
@docs(tags=["projects"], summary="Update a project (only the fields sent change)")
@requires("write:projects")
@match_info_schema(ProjectPath)
@json_schema(UpdateProjectRequest)
@response_schema(ProjectWriteResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 412)
async def update_project(request: web.Request) -> web.Response:
    command = UpdateProject(
        project_id=request[path_key]["project_id"],
        values=request[body_key],
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(request, request.config_dict[time_tracking_key].update_project, command)
    headers = await settle(request, written, PROJECTS)
    project = await shown(request, written, headers, lambda: _project_or_404(request, written.id))
    body = {"message": "Project updated successfully", "project": project}
    return json_response(body, headers=headers)


@routes.delete("/projects/{project_id}")
@docs(tags=["projects"], summary="Archive a project (it stays readable)")
@requires("write:projects")
@match_info_schema(ProjectPath)
@response_schema(MessageResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 409)
@response_schema(ErrorResponse, 412)
async def archive_project(request: web.Request) -> web.Response:
    command = ArchiveProject(
        project_id=request[path_key]["project_id"],
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(
        request, request.config_dict[time_tracking_key].archive_project, command
    )
    headers = await settle(request, written, PROJECTS)
    return json_response({"message": "Project archived successfully"}, headers=headers)
