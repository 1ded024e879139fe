"""`Idempotency-Key` on POST: the same key and body replay the first response, writing nothing.

A different body with a used key is refused (422); a duplicate that arrives while the
first is still running waits for its response, so concurrent duplicates write once.
"""

from __future__ import annotations

import hashlib
import re

from aiohttp import hdrs, web
from aiohttp.helpers import parse_mimetype
from aiohttp.typedefs import Handler

from timetracker.commands.key_claims import KeyClaim
from timetracker.http.errors import ApiError
from timetracker.http.idempotency import StoredResponse
from timetracker.http.keys import (
    caller_key,
    claim_key,
    idempotency_store_key,
    read_body_key,
)
from timetracker.http.middlewares.errors import as_api_error, error_response

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"
WAIT_FOR_FIRST_SECONDS = 10.0
_KEPT_HEADERS = ("Location", "ETag", "X-Event-Position", "X-Read-Your-Writes", "Retry-After")


def _replay(stored: StoredResponse) -> web.Response:
    response = web.Response(
        status=stored.status,
        body=stored.body,
        headers=stored.headers,
        content_type="application/json",
    )
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _stored(response: web.Response) -> StoredResponse:
    headers = {k: v for k, v in response.headers.items() if k in _KEPT_HEADERS}
    body = response.body if isinstance(response.body, bytes) else b""
    return StoredResponse(response.status, headers, body)


def _as_hashed(request: web.Request, body: bytes) -> bytes:
    """The body as its hash covers it: a multipart form without its boundary, which a client
    picks anew each time it sends the same form (the boundary delimits the parts only)."""
    if request.content_type != "multipart/form-data":
        return body
    boundary = parse_mimetype(request.headers.get(hdrs.CONTENT_TYPE, "")).parameters.get(
        "boundary", ""
    )
    return body.replace(boundary.encode(), b"") if boundary else body


@web.middleware
async def idempotency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run a keyed POST once per user and key; replay its response afterwards."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None or caller_key not in request:
        return await handler(request)
    if not _KEY.match(key):
        raise ApiError(
            400,
            "Validation error",
            "Idempotency-Key must be 1-255 visible ASCII characters.",
            "validation_error",
            errors={HEADER: ["Not a valid key."]},
        )
    user_id = request[caller_key].user_id
    body = await request.read()
    request[read_body_key] = body  # for a handler that streams it (`multipart_of`)
    # The query string is part of the request: the same body to another query is another request.
    target = f"{request.method} {request.raw_path}\n"
    request_hash = hashlib.sha256(target.encode() + _as_hashed(request, body)).hexdigest()
    store = request.config_dict[idempotency_store_key]
    claim = await store.claim(user_id, key, request_hash)
    if not claim.ours:
        if claim.request_hash != request_hash:
            raise ApiError(
                422,
                "Idempotency key reused",
                "This Idempotency-Key was used with a different request.",
                "idempotency_key_reused",
            )
        stored = claim.response or await store.wait_for_response(
            user_id, key, WAIT_FOR_FIRST_SECONDS
        )
        if stored is None and claim.applied:
            raise ApiError(
                409,
                "Conflict",
                "The first request with this Idempotency-Key was applied, but the server"
                " stopped before answering it; look the result up instead of retrying.",
                "idempotency_answer_lost",
            )
        if stored is None:
            raise ApiError(
                409,
                "Conflict",
                "A request with this Idempotency-Key is still in progress.",
                "idempotency_in_progress",
                headers={"Retry-After": "1"},
            )
        return _replay(stored)
    # `execute` hands it to the command: the write's transaction checks the claim.
    if claim.token:
        request[claim_key] = KeyClaim(user_id, key, claim.token)
    try:
        response = await handler(request)
    except Exception as exc:
        api_error = as_api_error(exc)
        if api_error is None or api_error.status >= 500:
            await store.release(user_id, key, claim.token)
            raise
        response = error_response(api_error)
    if not isinstance(response, web.Response) or response.status >= 500:
        await store.release(user_id, key, claim.token)
        return response
    await store.complete(user_id, key, claim.token, _stored(response))
    return response
