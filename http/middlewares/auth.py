"""Token authentication and scope checks for every route under /api/v1."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from timetracker.domain.api_token import token_digest
from timetracker.http.caller import Caller
from timetracker.http.errors import ApiError
from timetracker.http.keys import accounts_view_key, caller_key

API_PREFIX = "/api/v1/"
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
    row = await request.app[accounts_view_key].token_by_hash(token_digest(token))
    if row is None or row["revoked_at"] is not None or not row["is_active"]:
        raise _invalid_token()
    if row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC):
        raise _invalid_token()
    return Caller(
        user_id=row["user_id"],
        username=row["username"],
        role=row["role"],
        token_id=row["id"],
        token_prefix=row["prefix"],
        scopes=tuple(row["scopes"]),
    )


def _forbidden_scope(scope: str, caller: Caller) -> ApiError:
    return ApiError(
        403,
        "Insufficient permissions",
        f"This endpoint requires the '{scope}' scope",
        "forbidden",
        extra={"required_scope": scope, "available_scopes": list(caller.scopes)},
    )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate API requests and enforce the handler's scope and role."""
    route_handler = request.match_info.handler
    if not request.path.startswith(API_PREFIX) or getattr(route_handler, "__public__", False):
        return await handler(request)
    scope = getattr(route_handler, "__scope__", None)
    if scope is None:  # no such route: let the router's 404/405 through
        return await handler(request)
    caller = await authenticate(request)
    if not caller.may(scope):
        raise _forbidden_scope(scope, caller)
    if getattr(route_handler, "__admin_only__", False) and not caller.is_admin:
        raise ApiError(403, "Forbidden", "This endpoint is for admin users only.", "forbidden")
    request[caller_key] = caller
    return await handler(request)
