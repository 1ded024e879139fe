"""/api/v1/users: the caller's own record, and every user for admins."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apigami import docs, json_schema, querystring_schema, response_schema

from timetracker.commands.messages import SetUserTimezone
from timetracker.http.access import caller_of, requires
from timetracker.http.errors import not_found
from timetracker.http.keys import (
    accounts_view_key,
    body_key,
    query_key,
    read_position_key,
    time_tracking_key,
)
from timetracker.http.pagination import page_args, pagination
from timetracker.http.responses import json_response, list_response, utc
from timetracker.http.schemas.common import ErrorResponse, PageQuery
from timetracker.http.schemas.users import (
    UpdateMeRequest,
    UserListResponse,
    UserResponse,
    UserWriteResponse,
)
from timetracker.http.writes import execute, settle, shown, stamp_of
from timetracker.projections.report_groups import ReportGroupsProjection

routes = web.RouteTableDef()


def user_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API representation of a users read-model row."""
    return {
        "id": row["id"],
        "username": row["username"],
        "email": row["email"],
        "full_name": row["full_name"],
        "role": row["role"],
        "is_active": row["is_active"],
        "created_at": utc(row["created_at"]),
        "timezone": row["timezone"],
    }


@routes.get("/users/me", allow_head=False)
@docs(tags=["users"], summary="The user the token belongs to")
@requires("read:users")
@response_schema(UserResponse, 200)
async def get_me(request: web.Request) -> web.Response:
    return json_response({"user": await _me(request)})


async def _me(request: web.Request) -> dict[str, Any]:
    caller = caller_of(request)
    row = await request.config_dict[accounts_view_key].get_user(caller.user_id)
    if row is None:
        raise not_found("Your user record is not available yet.")
    return user_json(row)


@routes.patch("/users/me")
@docs(
    tags=["users"],
    summary="Set your own preferences: `timezone`, the default zone of reports and exports",
)
@requires("read:users")
@json_schema(UpdateMeRequest)
@response_schema(UserWriteResponse, 200)
@response_schema(ErrorResponse, 400)
async def update_me(request: web.Request) -> web.Response:
    command = SetUserTimezone(
        user_id=caller_of(request).user_id,
        timezone=request[body_key]["timezone"],
        stamp=stamp_of(request),
    )
    tracking = request.config_dict[time_tracking_key]
    written = await execute(request, tracking.set_user_timezone, command)
    headers = await settle(request, written, ("accounts", ReportGroupsProjection.name))
    user = await shown(request, written, headers, lambda: _me(request))
    return json_response({"message": "User updated successfully", "user": user}, headers=headers)


@routes.get("/users", allow_head=False)
@docs(tags=["users"], summary="List every user (admin token and admin user)")
@requires("admin:all", admin=True)
@querystring_schema(PageQuery)
@response_schema(UserListResponse, 200)
@response_schema(ErrorResponse, 400)
async def list_users(request: web.Request) -> web.Response:
    page, per_page = page_args(request[query_key])
    result = await request.config_dict[accounts_view_key].list_users_json(
        page, per_page, request.get(read_position_key)
    )
    return list_response("users", result.json, pagination(page, per_page, result.total))
