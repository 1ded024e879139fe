"""/admin/: the event store's head, every read model's standing, Redis and maintenance, live."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from timetracker.eventlog.documents import rfc3339
from timetracker.http.console.guard import passive
from timetracker.http.console.rendering import page
from timetracker.http.keys import (
    maintenance_key,
    read_pool_key,
    redis_key,
    settings_key,
    time_tracking_key,
)
from timetracker.http.responses import json_response
from timetracker.http.threads import in_thread
from timetracker.projections.engine.status import projection_status
from timetracker.webhooks.status import dispatcher_status

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
    head = states[0].head if states else 0
    return {
        "head": head,
        "projections": [{**s.as_dict(), "lag_seconds": round(s.lag_seconds, 1)} for s in states],
        "redis": redis,
        "maintenance": None
        if maintenance is None
        else {"reason": maintenance.reason, "since": rfc3339(maintenance.started_at)},
        "webhooks": await _webhooks(request, head),
        "checked_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


async def _webhooks(request: web.Request, head: int) -> dict[str, Any]:
    """The webhook dispatcher's state, lag and failing subscriptions, as `/health` has them
    (times as text, the same in the page and in its refresh)."""
    try:
        status = await dispatcher_status(request.config_dict[read_pool_key], head)
    except Exception as exc:  # noqa: BLE001 - shown as unknown, as /health does
        log.warning("Dashboard: webhook dispatcher status unavailable: %s", exc)
        return {
            "state": "unknown",
            "lag_events": "?",
            "pending_deliveries": "?",
            "disabled_subscriptions": "?",
            "failing_subscriptions": [],
        }
    for failing in status["failing_subscriptions"]:
        for name in ("failing_since", "next_attempt_at"):
            failing[name] = rfc3339(failing[name]) if failing[name] else ""
        failing["last_status_code"] = failing["last_status_code"] or ""
        failing["last_error"] = failing["last_error"] or ""
    return status


@routes.get("/", name="dashboard")
async def show_dashboard(request: web.Request) -> web.Response:
    status = await service_status(request)
    return page(request, "dashboard.html", {"status": status, "refresh": REFRESH_SECONDS})


@routes.get("/status.json")
@passive
async def get_status(request: web.Request) -> web.Response:
    return json_response(await service_status(request))
