"""Who is calling, and what each handler requires of them (scope, admin role)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp_apigami import docs, response_schema

from timetracker.http.caller import Caller
from timetracker.http.keys import caller_key
from timetracker.http.schemas.common import ErrorResponse

H = TypeVar("H", bound=Callable[..., Any])

SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]


def caller_of(request: web.Request) -> Caller:
    """The caller the auth middleware put on the request."""
    return request[caller_key]


def requires(scope: str, *, admin: bool = False) -> Callable[[H], H]:
    """Mark a handler as needing `scope` (and an admin user when `admin`); a handler of the
    API without it is open to everyone, without a token (`/info`, `/health`)."""

    def mark(handler: H) -> H:
        handler.__scope__ = scope  # type: ignore[attr-defined]
        handler.__admin_only__ = admin  # type: ignore[attr-defined]
        handler = response_schema(ErrorResponse, 401, description="No or invalid token")(handler)
        handler = response_schema(ErrorResponse, 403, description=f"Needs {scope}")(handler)
        return docs(security=SECURITY)(handler)

    return mark


def uncounted(handler: H) -> H:
    """Mark a handler whose requests do not use up rate-limit quota."""
    handler.__uncounted__ = True  # type: ignore[attr-defined]
    return handler


def open_in_maintenance(handler: H) -> H:
    """Mark a handler that still answers while the service is in maintenance (a restore)."""
    handler.__open_in_maintenance__ = True  # type: ignore[attr-defined]
    return handler
