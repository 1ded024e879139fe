"""/api/v1/clients: list, read, create, update and archive clients."""

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

from timetracker.commands.messages import ArchiveClient, CreateClient, UpdateClient
from timetracker.domain.client import Client
from timetracker.eventlog.documents import number
from timetracker.http.access import requires
from timetracker.http.as_of import (
    answered_at,
    as_of_headers,
    as_of_json,
    client_row,
    past,
    position_at,
)
from timetracker.http.errors import not_found
from timetracker.http.keys import (
    body_key,
    clients_view_key,
    path_key,
    query_key,
    read_position_key,
    time_tracking_key,
)
from timetracker.http.pagination import page_args, pagination
from timetracker.http.paths import api_path
from timetracker.http.positions import reads
from timetracker.http.responses import json_response, list_response, utc
from timetracker.http.schemas.audit import AsOfQuery
from timetracker.http.schemas.clients import (
    ClientListQuery,
    ClientListResponse,
    ClientResponse,
    ClientWriteResponse,
    CreateClientRequest,
    UpdateClientRequest,
)
from timetracker.http.schemas.common import ErrorResponse, MessageResponse, path_id
from timetracker.http.writes import etag, execute, expected_version, settle, shown, stamp_of

routes = web.RouteTableDef()
CLIENTS = ("clients", "report_groups")
ClientPath = path_id("client_id")


def client_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API representation of a clients read-model row."""
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "company": row["company"],
        "phone": row["phone"],
        "contact_person": row["contact_person"],
        "address": row["address"],
        "default_hourly_rate": number(row["default_hourly_rate"]),
        "status": row["status"],
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
        "version": row["version"],
    }


async def _client_or_404(request: web.Request, client_id: int) -> dict[str, Any]:
    row = await request.config_dict[clients_view_key].get(client_id)
    if row is None:
        raise not_found(f"Client {client_id} not found.")
    return client_json(row)


@routes.get("/clients", allow_head=False)
@reads("clients")
@docs(tags=["clients"], summary="List clients")
@requires("read:clients")
@querystring_schema(ClientListQuery)
@response_schema(ClientListResponse, 200)
@response_schema(ErrorResponse, 400)
async def list_clients(request: web.Request) -> web.Response:
    query = request[query_key]
    page, per_page = page_args(query)
    result = await request.config_dict[clients_view_key].list_json(
        query.get("status"), page, per_page, request.get(read_position_key)
    )
    return list_response("clients", result.json, pagination(page, per_page, result.total))


@routes.get("/clients/{client_id}", allow_head=False)
@docs(
    tags=["clients"],
    summary="Get one client (as it is, or as it was at `as_of`)",
    description="With `as_of` the client is shown as it was then, with an `as_of` block "
    "naming the store position.",
)
@requires("read:clients")
@reads("clients")
@match_info_schema(ClientPath)
@querystring_schema(AsOfQuery)
@response_schema(ClientResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
async def get_client(request: web.Request) -> web.Response:
    client_id = request[path_key]["client_id"]
    moment = request[query_key].get("as_of")
    if moment is not None:
        position = await position_at(request, moment)
        then = await past(request, "client", client_id, position)
        if not isinstance(then, Client):
            raise answered_at(not_found(f"Client {client_id} did not exist then."), position)
        body = {"client": client_json(client_row(then)), "as_of": as_of_json(moment, position)}
        return json_response(body, headers=as_of_headers(then.version, position))
    client = await _client_or_404(request, client_id)
    return json_response({"client": client}, headers={"ETag": etag(client["version"])})


@routes.post("/clients")
@docs(tags=["clients"], summary="Create a client (the name is unique among active clients)")
@requires("write:clients")
@json_schema(CreateClientRequest)
@response_schema(ClientWriteResponse, 201)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 409)
async def create_client(request: web.Request) -> web.Response:
    command = CreateClient(values=request[body_key], stamp=stamp_of(request))
    written = await execute(request, request.config_dict[time_tracking_key].create_client, command)
    headers = await settle(request, written, CLIENTS)
    headers["Location"] = api_path(f"/clients/{written.id}")
    client = await shown(request, written, headers, lambda: _client_or_404(request, written.id))
    body = {"message": "Client created successfully", "client": client}
    return json_response(body, status=201, headers=headers)


@routes.put("/clients/{client_id}")
@routes.patch("/clients/{client_id}")
@docs(tags=["clients"], summary="Update a client (only the fields sent change)")
@requires("write:clients")
@match_info_schema(ClientPath)
@json_schema(UpdateClientRequest)
@response_schema(ClientWriteResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 409)
@response_schema(ErrorResponse, 412)
async def update_client(request: web.Request) -> web.Response:
    command = UpdateClient(
        client_id=request[path_key]["client_id"],
        values=request[body_key],
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(request, request.config_dict[time_tracking_key].update_client, command)
    headers = await settle(request, written, CLIENTS)
    client = await shown(request, written, headers, lambda: _client_or_404(request, written.id))
    body = {"message": "Client updated successfully", "client": client}
    return json_response(body, headers=headers)


@routes.delete("/clients/{client_id}")
@docs(tags=["clients"], summary="Archive a client (frees its name)")
@requires("write:clients")
@match_info_schema(ClientPath)
@response_schema(MessageResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 409)
@response_schema(ErrorResponse, 412)
async def archive_client(request: web.Request) -> web.Response:
    command = ArchiveClient(
        client_id=request[path_key]["client_id"],
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(request, request.config_dict[time_tracking_key].archive_client, command)
    headers = await settle(request, written, CLIENTS)
    return json_response({"message": "Client archived successfully"}, headers=headers)
