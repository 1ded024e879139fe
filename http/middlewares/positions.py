"""Puts `X-Event-Position` on every response that does not carry one yet (see `positions.py`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import RedisError

from timetracker.http.keys import caller_key, freshness_key, read_position_key
from timetracker.http.middlewares.errors import as_api_error, error_response
from timetracker.http.writes import POSITION_HEADER
from timetracker.projections.registry import REDIS_PROJECTION_NAMES, all_projections

log = logging.getLogger(__name__)
# Handlers that name no read models may answer from any of them.
EVERY_READ_MODEL = (*(p.name for p in all_projections()), *sorted(REDIS_PROJECTION_NAMES))


async def _read_models_position(request: web.Request, names: Sequence[str]) -> int:
    """The lowest position among the read models `names`, never behind a write answered
    by any process (`Freshness.covering`: lists keep pages by it)."""
    freshness = request.config_dict[freshness_key]
    try:
        positions = await freshness.covering(names)
    except RedisError:
        # Without Redis only the PostgreSQL read models can answer; say what they show.
        positions = await freshness.postgres_positions(set(names))
        names = [name for name in names if name not in REDIS_PROJECTION_NAMES]
    return min((positions.get(name, 0) for name in names), default=0)


@web.middleware
async def position_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every response says which store position its answer reflects.

    Read models are asked before the handler runs: they only move forward, so the
    answer reflects at least that position. Failures to find out leave the header off
    rather than fail the request, except that a database found unavailable is answered
    503 at once (the handler would only wait for it again), and a 503 answer is not held
    up to look for the store's head.
    """
    route_handler = request.match_info.handler
    names: Sequence[str] | None = getattr(route_handler, "__read_models__", None)
    answers_from_read_models = (
        request.method == "GET"
        and getattr(route_handler, "__scope__", None) is not None
        and names != ()
        and "as_of" not in request.query
    )
    position: int | None = None
    if answers_from_read_models:
        try:
            position = await _read_models_position(request, names or EVERY_READ_MODEL)
        except Exception as exc:  # the header is best effort; the answer is not
            unavailable = as_api_error(exc)
            if unavailable is not None and unavailable.status == 503:
                return error_response(unavailable)
            log.warning("No read-model position for %s", request.path, exc_info=True)
        else:
            request[read_position_key] = position
    response = await handler(request)
    if caller_key not in request:
        # Only callers with a valid token learn positions: on open endpoints, 401s and
        # unknown routes the header would let anyone watch the write rate.
        response.headers.popall(POSITION_HEADER, None)
        return response
    if POSITION_HEADER in response.headers or response.prepared or response.status == 503:
        return response
    if position is None:
        try:
            position = await request.config_dict[freshness_key].head()
        except Exception:
            log.warning("No store head for %s", request.path, exc_info=True)
            return response
    response.headers[POSITION_HEADER] = str(position)
    return response
