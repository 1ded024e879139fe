"""Token authentication and scope checks for every route of the API sub-app (`/api/v1`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from timetracker.domain.api_token import token_digest
from timetracker.http.caller import Caller
from timetracker.http.errors import ApiError
from timetracker.http.keys import (
    accounts_view_key,
    caller_key,
    rate_decision_key,
    rate_limiter_key,
    rate_windows_key,
    token_usage_key,
)
from timetracker.http.middlewares.errors import as_api_error
from timetracker.http.rate_limit import Decision, RateLimiter, Window, rate_limit_headers
from timetracker.http.token_cache import token_cache_key

TOKEN_FORMAT = re.compile(r"^tt_[A-Za-z0-9_-]{32}$")
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Token)\s+(\S+)\s*$", re.IGNORECASE)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="timetracker"'}


def _missing_token() -> ApiError:
    return ApiError(
        401,
        "Authentication required",
        "Send an API token as 'Authorization: Bearer <token>' or 'X-API-Key: <token>'.",
        "unauthorized",
        headers=_CHALLENGE,
    )


def _invalid_token() -> ApiError:
    return ApiError(
        401,
        "Invalid token",
        "The provided API token is invalid or expired",
        "unauthorized",
        headers=_CHALLENGE,
    )


def presented_token(request: web.Request) -> str | None:
    """The token from `Authorization` (preferred) or `X-API-Key`; '' when malformed."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        match = _AUTH_SCHEME.match(authorization)
        return match.group(1) if match else ""
    api_key = request.headers.get("X-API-Key")
    return api_key.strip() if api_key is not None else None


async def authenticate(request: web.Request) -> Caller:
    """The caller behind the request's token; 401 for a missing or unusable token."""
    token = presented_token(request)
    if token is None:
        raise _missing_token()
    if not TOKEN_FORMAT.match(token):
        raise _invalid_token()
    digest = token_digest(token)
    cache = request.config_dict.get(token_cache_key)
    cached = cache.get(digest) if cache is not None else None
    if cached is not None:
        return cached
    generation = cache.generation() if cache is not None else (0, 0)
    row = await request.config_dict[accounts_view_key].token_by_hash(digest)
    if row is None or row["revoked_at"] is not None or not row["is_active"]:
        raise _invalid_token()
    if row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC):
        raise _invalid_token()
    caller = Caller(
        user_id=row["user_id"],
        username=row["username"],
        role=row["role"],
        token_id=row["id"],
        token_prefix=row["prefix"],
        scopes=tuple(row["scopes"]),
    )
    if cache is not None:
        cache.put(digest, caller, row["expires_at"], generation)
    return caller


def _forbidden_scope(scope: str, caller: Caller) -> ApiError:
    return ApiError(
        403,
        "Insufficient permissions",
        f"This endpoint requires the '{scope}' scope",
        "forbidden",
        extra={"required_scope": scope, "available_scopes": list(caller.scopes)},
    )


def _too_many(decision: Decision) -> ApiError:
    return ApiError(
        429,
        "Too many requests",
        f"Rate limit exceeded; retry in {decision.retry_after()} seconds.",
        "rate_limited",
        headers={**rate_limit_headers(decision), "Retry-After": str(decision.retry_after())},
    )


def _with_headers(exc: Exception, headers: dict[str, str]) -> Exception:
    """The error as an ApiError carrying `headers` (unknown faults are left alone)."""
    api_error = as_api_error(exc)
    if api_error is None:
        return exc
    api_error.headers = {**headers, **api_error.headers}
    return api_error


async def _limit_client(request: web.Request, limiter: RateLimiter, windows: list[Window]) -> None:
    """Count an unauthenticated or failed request against the client IP's own bucket."""
    decision = await limiter.hit(f"ip:{request.remote or 'unknown'}", windows)
    if not decision.admitted:
        raise _too_many(decision)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate API requests, count them against their token's rate limits, and enforce
    the handler's scope and role.

    Open endpoints and failed authentications count against a bucket per client IP, so
    guessing tokens cannot spend a real token's quota. Every authenticated response, 2xx,
    4xx or 429, carries the rate-limit headers.
    """
    route_handler = request.match_info.handler
    limiter = request.config_dict[rate_limiter_key]
    windows = request.config_dict[rate_windows_key]
    scope = getattr(route_handler, "__scope__", None)
    if scope is None:
        # open endpoints; unknown routes get the router's 404/405
        if windows:
            await _limit_client(request, limiter, windows)
        return await handler(request)
    try:
        caller = await authenticate(request)
    except ApiError:
        if windows:
            await _limit_client(request, limiter, windows)
        raise
    request[caller_key] = caller
    await request.config_dict[token_usage_key].touch(caller.token_id)
    if not windows:
        return await _authorised(request, handler, caller, scope)
    counted = not getattr(route_handler, "__uncounted__", False)
    decision = await limiter.hit(f"token:{caller.token_id}", windows, admit=counted)
    if counted and not decision.admitted:
        raise _too_many(decision)
    request[rate_decision_key] = decision
    headers = rate_limit_headers(decision)
    try:
        response = await _authorised(request, handler, caller, scope)
    except Exception as exc:  # noqa: BLE001 - re-raised, with the headers added
        raise _with_headers(exc, headers) from None
    response.headers.update(headers)
    return response


async def _authorised(
    request: web.Request, handler: Handler, caller: Caller, scope: str
) -> web.StreamResponse:
    if not caller.may(scope):
        raise _forbidden_scope(scope, caller)
    if getattr(request.match_info.handler, "__admin_only__", False) and not caller.is_admin:
        raise ApiError(403, "Forbidden", "This endpoint is for admin users only.", "forbidden")
    return await handler(request)
