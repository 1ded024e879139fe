"""The ApiToken aggregate: a bearer credential of one user, stored only as a hash."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from timetracker.domain.errors import InvalidValueError, TokenAlreadyRevokedError
from timetracker.domain.events import RecordedCreation, RecordedEvent
from timetracker.domain.scopes import KNOWN_SCOPES
from timetracker.domain.values import Stamp, aggregate_id


class ApiToken(Aggregate):
    """An API token; the secret itself never enters an event, only its hash."""

    class Issued(RecordedCreation):
        number: int
        user_id: int
        name: str
        token_hash: str
        prefix: str
        scopes: list[str]
        expires_at: datetime | None

    class Revoked(RecordedEvent):
        pass

    @staticmethod
    def create_id(number: int) -> UUID:
        return aggregate_id("api_token", number)

    @classmethod
    def issue(
        cls,
        number: int,
        user_id: int,
        name: str,
        token_hash: str,
        prefix: str,
        scopes: list[str],
        expires_at: datetime | None,
        stamp: Stamp,
    ) -> ApiToken:
        """Issue a token (event ApiTokenIssued); unknown scopes are refused."""
        unknown = sorted(set(scopes) - KNOWN_SCOPES)
        if unknown:
            raise InvalidValueError(
                "scopes",
                f"Unknown scopes: {', '.join(unknown)}."
                f" Valid scopes: {', '.join(sorted(KNOWN_SCOPES))}.",
            )
        if not scopes:
            raise InvalidValueError("scopes", "At least one scope is required.")
        if expires_at is not None and expires_at <= stamp.at:
            raise InvalidValueError("expires_at", "Must be in the future.")
        return cls(
            number=number,
            user_id=user_id,
            name=name,
            token_hash=token_hash,
            prefix=prefix,
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
            **stamp.event_fields(),
        )

    @event(Issued)
    def __init__(
        self,
        number: int,
        user_id: int,
        name: str,
        token_hash: str,
        prefix: str,
        scopes: list[str],
        expires_at: datetime | None,
        timestamp: datetime,
        actor: dict[str, Any],
        request_id: str,
    ) -> None:
        self.number = number
        self.user_id = user_id
        self.name = name
        self.token_hash = token_hash
        self.prefix = prefix
        self.scopes = scopes
        self.expires_at = expires_at
        self.revoked_at: datetime | None = None

    def revoke(self, stamp: Stamp) -> None:
        """Revoke the token (event ApiTokenRevoked); it stops working at once."""
        if self.revoked_at is not None:
            raise TokenAlreadyRevokedError(f"Token {self.prefix} was revoked already.")
        self._revoke(**stamp.event_fields())

    @event(Revoked)
    def _revoke(self, timestamp: datetime, actor: dict[str, Any], request_id: str) -> None:
        self.revoked_at = timestamp


def token_digest(token: str) -> str:
    """The stored form of a token: SHA-256, enough for 190 bits of randomness."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
