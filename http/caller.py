"""The authenticated caller of a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from timetracker.domain.scopes import grants
from timetracker.domain.values import Stamp


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
            is_admin=self.is_admin,
        )
