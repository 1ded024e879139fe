"""The path of every write: run the command off the event loop, then wait for the read model."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from redis.exceptions import RedisError

from timetracker.commands.key_claims import run_claimed
from timetracker.commands.messages import Written
from timetracker.domain.values import Stamp
from timetracker.http.access import caller_of
from timetracker.http.errors import ApiError
from timetracker.http.keys import (
    claim_key,
    command_executor_key,
    freshness_key,
    request_id_key,
    settings_key,
)
from timetracker.http.threads import in_thread

log = logging.getLogger(__name__)
C = TypeVar("C")
R = TypeVar("R")

POSITION_HEADER = "X-Event-Position"
STALE_HEADER = "X-Read-Your-Writes"
_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,10})"?\s*$')


def stamp_of(request: web.Request) -> Stamp:
    """Who, when and which request: recorded on the events this request causes."""
    return caller_of(request).stamp(request[request_id_key], datetime.now(UTC))


def expected_version(request: web.Request) -> int | None:
    """The version named by `If-Match` (None when absent or `*`)."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = _IF_MATCH.match(header)
    if match is None:
        raise ApiError(
            400,
            "Validation error",
            'If-Match must be an ETag from this API, such as "3".',
            "validation_error",
            errors={"If-Match": ["Not a valid ETag."]},
        )
    return int(match.group(1))


def etag(version: int) -> str:
    """The ETag of a resource at `version`."""
    return f'"{version}"'


async def execute(request: web.Request, command: Callable[[C], R], message: C) -> R:
    """Run one command in the command thread pool (the event store is synchronous), with
    the request's Idempotency-Key claim, if any (`commands/key_claims.py`)."""
    claim = request.get(claim_key)
    executor = request.config_dict[command_executor_key]
    return await in_thread(run_claimed, claim, command, message, executor=executor)


async def settle(
    request: web.Request, written: Written, projections: Sequence[str]
) -> dict[str, str]:
    """Wait until the projections show the write; returns the response headers to add.

    The wait is bounded: past it the write still stands, and the response says the
    read model may lag (`X-Read-Your-Writes: timeout`).
    """
    headers = {"ETag": etag(written.version)}
    if written.position is None:
        return headers
    headers[POSITION_HEADER] = str(written.position)
    try:
        caught_up = await request.config_dict[freshness_key].wait_for(
            projections,
            written.position,
            request.config_dict[settings_key].read_your_writes_timeout,
        )
    except RedisError:
        # The write stands; only the Redis read models cannot show it yet.
        log.warning("Redis unreachable: read-your-writes wait skipped")
        caught_up = False
    if not caught_up:
        headers[STALE_HEADER] = "timeout"
    # Any process's next read must show it, even one whose news of it is still on its way.
    await request.config_dict[freshness_key].answering(written.position)
    return headers


async def shown(
    request: web.Request,
    written: Written,
    headers: dict[str, str],
    read: Callable[[], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """The written resource as its read model shows it, for the write's response.

    When the read model did not catch up within the wait (`X-Read-Your-Writes: timeout`) and
    does not show the resource yet, its id and version stand in: the write stands, and a 404
    would invite a client to send it again.
    """
    try:
        return await read()
    except ApiError as error:
        if error.status != 404 or STALE_HEADER not in headers:
            raise
        return {"id": written.id, "version": written.version}
