"""/api/v1/info and /api/v1/health: open to everyone, no token needed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from aiohttp import web
from aiohttp_apigami import docs, response_schema
from marshmallow import Schema, fields

from timetracker.http.access import public
from timetracker.http.keys import read_pool_key, redis_key
from timetracker.http.responses import json_response, rfc3339
from timetracker.projections.tracking import positions

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


class InfoResponse(Schema):
    api_version = fields.String(required=True)
    app_version = fields.String(required=True)
    documentation_url = fields.String(required=True)
    openapi_url = fields.String(required=True)
    endpoints = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class HealthResponse(Schema):
    status = fields.String(required=True)
    timestamp = fields.String(required=True)
    checks = fields.Dict(required=True)


def app_version() -> str:
    """The installed package's version."""
    try:
        return metadata.version("timetracker-es")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@routes.get("/api/v1/info", allow_head=False)
@docs(tags=["system"], summary="API version and endpoints (no token needed)")
@response_schema(InfoResponse, 200)
@public
async def get_info(request: web.Request) -> web.Response:
    return json_response(
        {
            "api_version": "v1",
            "app_version": app_version(),
            "documentation_url": "/api/docs",
            "openapi_url": "/api/docs/openapi.json",
            "endpoints": {
                "projects": "/api/v1/projects",
                "clients": "/api/v1/clients",
                "users": "/api/v1/users",
                "health": "/api/v1/health",
            },
        }
    )


async def _store_and_projections(request: web.Request) -> dict[str, Any]:
    async with request.app[read_pool_key].connection() as conn:
        cursor = await conn.execute("SELECT max(notification_id) AS head FROM timetracking_events")
        row = await cursor.fetchone()
        head = int((row["head"] if isinstance(row, dict) else row[0]) or 0) if row else 0
        tracked = await positions(conn)
    return {
        "event_store": {"status": "up", "head": head},
        "projections": {
            name: {"status": "up", "position": position, "lag_events": max(head - position, 0)}
            for name, position in sorted(tracked.items())
        },
    }


@routes.get("/api/v1/health", allow_head=False)
@docs(tags=["system"], summary="Event store, Redis and projection lag (200 healthy, 503 not)")
@response_schema(HealthResponse, 200)
@response_schema(HealthResponse, 503)
@public
async def get_health(request: web.Request) -> web.Response:
    checks: dict[str, Any] = {}
    healthy = True
    try:
        checks.update(await _store_and_projections(request))
    except Exception as exc:  # noqa: BLE001 - any failure means "down", reported as such
        log.warning("Health: event store unreachable: %s", exc)
        checks["event_store"] = {"status": "down", "error": type(exc).__name__}
        healthy = False
    try:
        await request.app[redis_key].ping()
        checks["redis"] = {"status": "up"}
    except Exception as exc:  # noqa: BLE001
        log.warning("Health: Redis unreachable: %s", exc)
        checks["redis"] = {"status": "down", "error": type(exc).__name__}
        healthy = False
    body = {
        "status": "healthy" if healthy else "unhealthy",
        "timestamp": rfc3339(datetime.now(UTC)),
        "checks": checks,
    }
    headers = {} if healthy else {"Retry-After": "5"}
    return json_response(body, status=200 if healthy else 503, headers=headers)
