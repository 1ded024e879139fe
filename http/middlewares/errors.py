"""One place that turns every failure into the documented JSON error body."""

from __future__ import annotations

import logging
import re
import time
import uuid

import psycopg
import psycopg_pool
from aiohttp import web
from aiohttp.typedefs import Handler
from eventsourcing.persistence import OperationalError as StoreOperationalError
from eventsourcing.persistence import PersistenceError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from timetracker.commands.errors import (
    ItemsInvalidError,
    NotFoundError,
    VersionMismatchError,
    WriteContentionError,
)
from timetracker.domain.errors import (
    ConflictError,
    EntryDeletedError,
    InvalidValueError,
    NotYourEntryError,
    TaskDeletedError,
)
from timetracker.http.errors import ApiError, not_found, validation_error
from timetracker.http.keys import request_id_key
from timetracker.http.responses import json_response
from timetracker.projections.redis_keys import ReadModelUnavailableError

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
RETRY_AFTER_SECONDS = "5"

_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("Bad request", "bad_request"),
    401: ("Authentication required", "unauthorized"),
    403: ("Forbidden", "forbidden"),
    404: ("Not found", "not_found"),
    405: ("Method not allowed", "method_not_allowed"),
    406: ("Not acceptable", "not_acceptable"),
    413: ("Payload too large", "payload_too_large"),
    415: ("Unsupported media type", "unsupported_media_type"),
}


WARN_EVERY_SECONDS = 30.0
_warned: dict[str, tuple[float, int]] = {}  # per message: when last logged, how many since


def _warn_at_most_now_and_then(message: str, exc: Exception) -> None:
    """Log a dependency's failure once per WARN_EVERY_SECONDS, with the count since:
    every request failing on it would flood the log (two lines a request)."""
    now = time.monotonic()
    last, skipped = _warned.get(message, (-WARN_EVERY_SECONDS, 0))
    if now - last < WARN_EVERY_SECONDS:
        _warned[message] = (last, skipped + 1)
        return
    _warned[message] = (now, 0)
    if skipped:
        log.warning(message + " (and %d more since the last report)", exc, skipped)
    else:
        log.warning(message, exc)


def as_api_error(exc: Exception) -> ApiError | None:
    """The documented error for a known exception, or None for a real fault."""
    match exc:
        case ApiError():
            return exc
        case InvalidValueError():
            return validation_error({exc.field: [exc.message]}, exc.message)
        case ItemsInvalidError():
            return validation_error(exc.errors, str(exc))
        case NotFoundError() | NotYourEntryError() | EntryDeletedError() | TaskDeletedError():
            return not_found(str(exc))
        case VersionMismatchError():
            return ApiError(
                412,
                "Precondition failed",
                f"If-Match names version {exc.expected}; the resource is at {exc.actual}.",
                "precondition_failed",
            )
        case ConflictError():
            return ApiError(409, "Conflict", str(exc), exc.code)
        case WriteContentionError():
            return ApiError(409, "Conflict", str(exc), "conflict")
        case web.HTTPException() if exc.status >= 400:
            title, code = _HTTP_ERRORS.get(exc.status, (exc.reason, "http_error"))
            message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else title
            if exc.status == 404:
                message = "No such endpoint."
            headers = {k: v for k, v in exc.headers.items() if k in ("Allow",)}
            return ApiError(exc.status, title, message, code, headers=headers)
        case ReadModelUnavailableError():
            return ApiError(
                503,
                "Service unavailable",
                f"{exc} Try again shortly.",
                "read_model_unavailable",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        case RedisConnectionError() | RedisTimeoutError():
            _warn_at_most_now_and_then("Redis unavailable: %s", exc)
            return ApiError(
                503,
                "Service unavailable",
                "A read model is unavailable (Redis cannot be reached); try again shortly.",
                "read_model_unavailable",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        case (
            psycopg.OperationalError()
            | psycopg_pool.PoolTimeout()
            | StoreOperationalError()
            | PersistenceError()
        ):
            _warn_at_most_now_and_then("Database unavailable: %s", exc)
            return ApiError(
                503,
                "Service unavailable",
                "The database is unavailable; try again shortly.",
                "service_unavailable",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id; answer every failure with the JSON error body."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[request_id_key] = request_id
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        api_error = as_api_error(exc)
        assert api_error is not None
        response = error_response(api_error)
    except Exception as exc:
        api_error = as_api_error(exc)
        if api_error is None:
            log.exception("Unhandled error in %s %s", request.method, request.path)
            api_error = ApiError(
                500, "Internal server error", "Something went wrong.", "internal_error"
            )
        response = error_response(api_error)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def error_response(error: ApiError) -> web.Response:
    """The JSON response for an error."""
    return json_response(error.body(), status=error.status, headers=error.headers)
