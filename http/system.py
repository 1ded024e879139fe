"""/api/v1/info and /api/v1/health: open to everyone, no token needed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from aiohttp import web
from aiohttp_apigami import docs, response_schema
from marshmallow import Schema, fields

from timetracker.eventlog.documents import rfc3339
from timetracker.http.access import open_in_maintenance
from timetracker.http.keys import freshness_key, maintenance_key, read_pool_key, redis_key
from timetracker.http.paths import API_PREFIX
from timetracker.http.responses import json_response
from timetracker.webhooks.status import dispatcher_status

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


@routes.get("/info", allow_head=False)
@docs(tags=["system"], summary="API version and endpoints (no token needed)")
@response_schema(InfoResponse, 200)
async def get_info(request: web.Request) -> web.Response:
    return json_response(
        {
            "api_version": "v1",
            "app_version": app_version(),
            "documentation_url": "/api/docs",
            "openapi_url": "/api/docs/openapi.json",
            "endpoints": endpoint_groups(request.app),
        }
    )


def endpoint_groups(app: web.Application) -> dict[str, str]:
    """Every group of endpoints the app serves under /api/v1, by name: the first segment
    of their paths (two under `admin/`), e.g. `{"time-entries": "/api/v1/time-entries"}`, and
    under the API document's name too where that differs (`time_entries`)."""
    groups: dict[str, str] = {}
    for resource in app.router.resources():
        segments = resource.canonical.removeprefix(API_PREFIX).strip("/").split("/")
        if not resource.canonical.startswith(API_PREFIX) or segments[0] in ("", "info"):
            continue
        depth = 2 if segments[0] == "admin" and len(segments) > 1 else 1
        name = "/".join(segments[:depth])
        if "{" not in name:
            groups.setdefault(name, f"{API_PREFIX}/{name}")
            # The API document names a group as a word (`"time_entries": "/api/v1/time-entries"`).
            groups.setdefault(name.replace("-", "_"), f"{API_PREFIX}/{name}")
    return dict(sorted(groups.items()))


def _lag(head: int, positions: dict[str, int]) -> dict[str, Any]:
    return {
        name: {"status": "up", "position": position, "lag_events": max(head - position, 0)}
        for name, position in sorted(positions.items())
    }


@routes.get("/health", allow_head=False)
@docs(tags=["system"], summary="Event store, Redis and projection lag (200 healthy, 503 not)")
@response_schema(HealthResponse, 200)
@response_schema(HealthResponse, 503)
@open_in_maintenance  # it reports the maintenance
async def get_health(request: web.Request) -> web.Response:
    checks: dict[str, Any] = {}
    freshness = request.config_dict[freshness_key]
    healthy = True
    head = 0
    try:
        head = await freshness.head()
        checks["event_store"] = {"status": "up", "head": head}
        checks["projections"] = _lag(head, await freshness.postgres_positions())
    except Exception as exc:  # noqa: BLE001 - any failure means "down", reported as such
        log.warning("Health: event store unreachable: %s", exc)
        checks["event_store"] = {"status": "down", "error": type(exc).__name__}
        healthy = False
    try:
        await request.config_dict[redis_key].ping()
        checks["redis"] = {"status": "up"}
        checks.setdefault("projections", {}).update(_lag(head, await freshness.redis_positions()))
    except Exception as exc:  # noqa: BLE001
        log.warning("Health: Redis unreachable: %s", exc)
        checks["redis"] = {"status": "down", "error": type(exc).__name__}
        healthy = False
    try:  # shown, never a reason for 503: deliveries wait in PostgreSQL until sent
        checks["webhooks"] = await dispatcher_status(request.config_dict[read_pool_key], head)
    except Exception as exc:  # noqa: BLE001
        checks["webhooks"] = {"state": "unknown", "error": type(exc).__name__}
    status = "healthy" if healthy else "unhealthy"
    headers = {} if healthy else {"Retry-After": "5"}
    maintenance = await request.config_dict[maintenance_key].fresh()
    if maintenance is not None:  # a restore is running: every other route answers 503
        checks["maintenance"] = {
            "status": "active",
            "reason": maintenance.reason,
            "since": rfc3339(maintenance.started_at),
        }
        status, healthy = "maintenance", False
        headers = {"Retry-After": str(maintenance.retry_after)}
    body = {"status": status, "timestamp": rfc3339(datetime.now(UTC)), "checks": checks}
    return json_response(body, status=200 if healthy else 503, headers=headers)
