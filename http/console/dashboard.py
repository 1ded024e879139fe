"""/admin/: the event store's head, every read model's standing, Redis and maintenance, live."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from timetracker.eventlog.documents import rfc3339
from timetracker.http.console.guard import passive
from timetracker.http.console.rendering import page
from timetracker.http.keys import maintenance_key, redis_key, settings_key, time_tracking_key
from timetracker.http.responses import json_response
from timetracker.http.threads import in_thread
from timetracker.projections.engine.status import projection_status

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
REFRESH_SECONDS = 2


async def service_status(request: web.Request) -> dict[str, Any]:
    """What the dashboard shows, as plain values (the page and its live refresh share it)."""
    settings = request.config_dict[settings_key]
    states = await in_thread(
        projection_status,
        request.config_dict[time_tracking_key],
        settings.conninfo,
        settings.redis_url,
        settings.redis_prefix,
    )
    try:
        await request.config_dict[redis_key].ping()
        redis = "up"
    except Exception:  # noqa: BLE001 - any failure means "down", shown as such
        redis = "down"
    maintenance = await request.config_dict[maintenance_key].fresh()
    return {
        "head": states[0].head if states else 0,
        "projections": [{**s.as_dict(), "lag_seconds": round(s.lag_seconds, 1)} for s in states],
        "redis": redis,
        "maintenance": None
        if maintenance is None
        else {"reason": maintenance.reason, "since": rfc3339(maintenance.started_at)},
        "checked_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


@routes.get("/", name="dashboard")
async def show_dashboard(request: web.Request) -> web.Response:
    status = await service_status(request)
    return page(request, "dashboard.html", {"status": status, "refresh": REFRESH_SECONDS})


@routes.get("/status.json")
@passive
async def get_status(request: web.Request) -> web.Response:
    return json_response(await service_status(request))
