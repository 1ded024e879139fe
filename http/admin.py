"""/api/v1/admin/projections: read-model status, and rebuilds as background jobs (admins only)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apigami import docs, match_info_schema, response_schema
from marshmallow import Schema, fields, validate

from timetracker.eventlog.documents import rfc3339
from timetracker.http.access import requires
from timetracker.http.errors import ApiError, not_found
from timetracker.http.keys import path_key, rebuild_jobs_key, settings_key, time_tracking_key
from timetracker.http.paths import api_path
from timetracker.http.responses import json_response
from timetracker.http.schemas.common import ErrorResponse
from timetracker.http.threads import in_thread
from timetracker.projections.engine.jobs import RebuildRunningError
from timetracker.projections.engine.status import projection_status
from timetracker.projections.registry import all_projections, redis_projections

routes = web.RouteTableDef()
NAMES = [p.name for p in all_projections()] + [p.name for p in redis_projections()]


class ProjectionPath(Schema):
    name = fields.String(required=True, validate=validate.OneOf(NAMES))


class ProjectionStateSchema(Schema):
    name = fields.String(required=True)
    store = fields.String(required=True)
    position = fields.Integer(required=True)
    head = fields.Integer(required=True)
    lag_events = fields.Integer(required=True)
    lag_seconds = fields.Float(required=True)
    state = fields.String(required=True)


class ProjectionsResponse(Schema):
    projections = fields.List(fields.Nested(ProjectionStateSchema), required=True)


class JobSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    state = fields.String(required=True)
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)
    events_per_second = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    started_at = fields.String(required=True)
    finished_at = fields.String(allow_none=True)


class JobResponse(Schema):
    job = fields.Nested(JobSchema, required=True)


def job_json(job: dict[str, Any]) -> dict[str, Any]:
    """The API representation of a rebuild job."""
    return {
        "id": job["id"],
        "name": job["name"],
        "state": job["state"],
        "done": job["done"],
        "total": job["total"],
        "events_per_second": job["events_per_second"],
        "error": job["error"],
        "started_at": rfc3339(job["started_at"]),
        "finished_at": rfc3339(job["finished_at"]),
    }


@routes.get("/admin/projections", allow_head=False)
@docs(tags=["admin"], summary="Every read model's position, lag and state")
@requires("admin:all", admin=True)
@response_schema(ProjectionsResponse, 200)
async def list_projections(request: web.Request) -> web.Response:
    settings = request.config_dict[settings_key]
    states = await in_thread(
        projection_status,
        request.config_dict[time_tracking_key],
        settings.conninfo,
        settings.redis_url,
        settings.redis_prefix,
    )
    return json_response({"projections": [state.as_dict() for state in states]})


@routes.post("/admin/projections/{name}/rebuild")
@docs(
    tags=["admin"],
    summary="Rebuild a read model beside the live one, then switch (a background job)",
)
@requires("admin:all", admin=True)
@match_info_schema(ProjectionPath)
@response_schema(JobResponse, 202)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 409)
async def rebuild_projection(request: web.Request) -> web.Response:
    name = request[path_key]["name"]
    try:
        job = await in_thread(request.config_dict[rebuild_jobs_key].start, name)
    except RebuildRunningError as exc:
        raise ApiError(409, "Conflict", str(exc), "rebuild_running") from None
    location = api_path(f"/admin/projections/{name}/rebuild")
    return json_response({"job": job_json(job)}, status=202, headers={"Location": location})


@routes.get("/admin/projections/{name}/rebuild", allow_head=False)
@docs(tags=["admin"], summary="Progress of the latest rebuild of a read model")
@requires("admin:all", admin=True)
@match_info_schema(ProjectionPath)
@response_schema(JobResponse, 200)
@response_schema(ErrorResponse, 404)
async def get_rebuild(request: web.Request) -> web.Response:
    name = request[path_key]["name"]
    job = await in_thread(request.config_dict[rebuild_jobs_key].latest, name)
    if job is None:
        raise not_found(f"No rebuild of {name} was started.")
    return json_response({"job": job_json(job)})
