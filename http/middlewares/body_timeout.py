"""A request body must arrive within `BODY_TIMEOUT` seconds: 408 and the connection closed.

Without a bound, a client announcing a large body and sending a byte now and then holds a
connection (and whatever the request holds) for ever. The body is read here, whole, before
the handler runs (it is at most `MAX_BODY_BYTES`); later reads get it from memory. Routes
that stream a large upload themselves (`streams_body`) bound their own reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import MultipartReader, web
from aiohttp.streams import StreamReader
from aiohttp.typedefs import Handler

from timetracker.http.errors import ApiError
from timetracker.http.keys import read_body_key, settings_key
from timetracker.http.middlewares.errors import error_response


def streams_body(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a handler that reads its (large) body itself, under bounds of its own."""
    handler.__streams_body__ = True  # type: ignore[attr-defined]
    return handler


def request_timeout(seconds: float) -> ApiError:
    """408: the body did not arrive in time."""
    return ApiError(
        408,
        "Request timeout",
        f"The request body did not arrive within {seconds:g} seconds.",
        "request_timeout",
    )


async def send_and_close(request: web.Request, error: ApiError) -> web.StreamResponse:
    """Send the error's response now and close the connection after it, so that the rest
    of the body is never waited for (aiohttp would otherwise read on for its lingering
    time)."""
    response = error_response(error)
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.protocol is not None:
        request.protocol.force_close()  # the transport flushes the answer, then closes
    return response


async def multipart_of(request: web.Request) -> MultipartReader:
    """A `streams_body` handler's parts: as they arrive, or from memory where a middleware
    read the body whole first (an `Idempotency-Key`'s hash covers the body)."""
    body = request.get(read_body_key)
    if body is None:
        return await request.multipart()
    stream = StreamReader(request.protocol, len(body) + 1, loop=asyncio.get_running_loop())
    stream.feed_data(body)
    stream.feed_eof()
    return MultipartReader(request.headers, stream)


@web.middleware
async def body_timeout_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read the body within the configured time, or answer 408 and close."""
    streams = getattr(request.match_info.handler, "__streams_body__", False)
    if request.body_exists and not streams:
        seconds = request.config_dict[settings_key].body_timeout
        try:
            async with asyncio.timeout(seconds):
                await request.read()
        except TimeoutError:
            return await send_and_close(request, request_timeout(seconds))
    return await handler(request)
