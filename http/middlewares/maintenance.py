"""503 on every API route while the service is in maintenance (a restore is running)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from timetracker.http.errors import ApiError
from timetracker.http.keys import maintenance_key

API_PREFIX = "/api/v1/"
OPEN_DURING_MAINTENANCE = frozenset({"/api/v1/health"})  # reports the maintenance


@web.middleware
async def maintenance_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 503 `maintenance` with `Retry-After` while a restore runs, before any other work,
    so that no one reads a half-restored store."""
    if not request.path.startswith(API_PREFIX) or request.path in OPEN_DURING_MAINTENANCE:
        return await handler(request)
    state = await request.app[maintenance_key].current()
    if state is None:
        return await handler(request)
    raise ApiError(
        503,
        "Service unavailable",
        f"The service is in maintenance ({state.reason}); try again in {state.retry_after} s.",
        "maintenance",
        headers={"Retry-After": str(state.retry_after)},
    )
