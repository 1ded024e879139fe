"""503 on every API route while the service is in maintenance (a restore is running).

Only the API sub-app carries this middleware; a handler marked `@open_in_maintenance`
(`access.py`) still answers."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from timetracker.http.errors import ApiError
from timetracker.http.keys import maintenance_key


@web.middleware
async def maintenance_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 503 `maintenance` with `Retry-After` while a restore runs, before any other work,
    so that no one reads a half-restored store."""
    if getattr(request.match_info.handler, "__open_in_maintenance__", False):
        return await handler(request)
    state = await request.config_dict[maintenance_key].current()
    if state is None:
        return await handler(request)
    raise ApiError(
        503,
        "Service unavailable",
        f"The service is in maintenance ({state.reason}); try again in {state.retry_after} s.",
        "maintenance",
        headers={"Retry-After": str(state.retry_after)},
    )
