"""Who is calling, and what each handler requires of them (scope, admin role)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from aiohttp_apigami import docs, response_schema

from timetracker.domain.scopes import grants
from timetracker.domain.values import Stamp
from timetracker.http.schemas.common import ErrorResponse

H = TypeVar("H", bound=Callable[..., Any])

CALLER = "caller"
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]


@dataclass(frozen=True)
class Caller:
    """The authenticated user and the token they used."""

    user_id: int
    username: str
    role: str
    token_id: int
    token_prefix: str
    scopes: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may(self, scope: str) -> bool:
        return grants(self.scopes, scope)

    def stamp(self, request_id: str, at: datetime) -> Stamp:
        """The actor record for events this caller causes."""
        return Stamp(
            at=at,
            user_id=self.user_id,
            token_id=self.token_id,
            token_prefix=self.token_prefix,
            request_id=request_id,
        )


def caller_of(request: web.Request) -> Caller:
    """The caller the auth middleware put on the request."""
    caller = request[CALLER]
    assert isinstance(caller, Caller)
    return caller


def requires(scope: str, *, admin: bool = False) -> Callable[[H], H]:
    """Mark a handler as needing `scope` (and an admin user when `admin`)."""

    def mark(handler: H) -> H:
        handler.__scope__ = scope  # type: ignore[attr-defined]
        handler.__admin_only__ = admin  # type: ignore[attr-defined]
        handler = response_schema(ErrorResponse, 401, description="No or invalid token")(handler)
        handler = response_schema(ErrorResponse, 403, description=f"Needs {scope}")(handler)
        return docs(security=SECURITY)(handler)

    return mark


def public(handler: H) -> H:
    """Mark a handler as open to everyone, without a token."""
    handler.__public__ = True  # type: ignore[attr-defined]
    return handler
