"""The User aggregate: someone who tracks time, a normal user or an admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from timetracker.domain.errors import InvalidValueError, UserDeactivatedError
from timetracker.domain.events import RecordedCreation, RecordedEvent
from timetracker.domain.rules import require_choice, require_name
from timetracker.domain.values import Stamp, aggregate_id

ROLES = ("user", "admin")
ARGON2ID_PREFIX = "$argon2id$"
DEFAULT_TIMEZONE = "UTC"
MAX_TIMEZONE_LENGTH = 64


class User(Aggregate):
    """A registered user; `number` is the public id."""

    class Registered(RecordedCreation):
        number: int
        username: str
        email: str | None
        full_name: str | None
        role: str

    class PasswordSet(RecordedEvent):
        """Carries the argon2id hash of the new password, never the password itself."""

        password_hash: str

    class RoleChanged(RecordedEvent):
        role: str

    class Deactivated(RecordedEvent):
        pass

    class TimezoneChanged(RecordedEvent):
        """The user's time zone (an IANA name) for reports and exports changed."""

        timezone: str

    @staticmethod
    def create_id(number: int) -> UUID:
        return aggregate_id("user", number)

    @classmethod
    def register(
        cls,
        number: int,
        username: str,
        email: str | None,
        full_name: str | None,
        role: str,
        stamp: Stamp,
    ) -> User:
        """Register a new user (event UserRegistered)."""
        return cls(
            number=number,
            username=require_name("username", username),
            email=email,
            full_name=full_name,
            role=require_choice("role", role, ROLES),
            **stamp.event_fields(),
        )

    @event(Registered)
    def __init__(
        self,
        number: int,
        username: str,
        email: str | None,
        full_name: str | None,
        role: str,
        timestamp: datetime,
        actor: dict[str, Any],
        request_id: str,
    ) -> None:
        self.number = number
        self.username = username
        self.email = email
        self.full_name = full_name
        self.role = role
        self.is_active = True
        self.password_hash: str | None = None
        self.timezone = DEFAULT_TIMEZONE

    def set_password(self, password_hash: str, stamp: Stamp) -> None:
        """Record a new password hash (event UserPasswordSet); only argon2id hashes."""
        if not password_hash.startswith(ARGON2ID_PREFIX):
            raise InvalidValueError("password", "Only an argon2id hash may be recorded.")
        if not self.is_active:
            raise UserDeactivatedError(f"User {self.username} is deactivated.")
        self._set_password(password_hash=password_hash, **stamp.event_fields())

    @event(PasswordSet)
    def _set_password(
        self, password_hash: str, timestamp: datetime, actor: dict[str, Any], request_id: str
    ) -> None:
        self.password_hash = password_hash

    def change_role(self, role: str, stamp: Stamp) -> bool:
        """Give the user another role (event UserRoleChanged); False when it is unchanged."""
        role = require_choice("role", role, ROLES)
        if not self.is_active:
            raise UserDeactivatedError(f"User {self.username} is deactivated.")
        if role == self.role:
            return False
        self._change_role(role=role, **stamp.event_fields())
        return True

    @event(RoleChanged)
    def _change_role(
        self, role: str, timestamp: datetime, actor: dict[str, Any], request_id: str
    ) -> None:
        self.role = role

    def deactivate(self, stamp: Stamp) -> None:
        """Deactivate the user (event UserDeactivated): their tokens and sessions stop."""
        if not self.is_active:
            raise UserDeactivatedError(f"User {self.username} is deactivated already.")
        self._deactivate(**stamp.event_fields())

    @event(Deactivated)
    def _deactivate(self, timestamp: datetime, actor: dict[str, Any], request_id: str) -> None:
        self.is_active = False

    def set_timezone(self, timezone: str, stamp: Stamp) -> bool:
        """Set the time zone reports and exports use by default (event UserTimezoneChanged).

        The caller checks that the name is a known IANA zone (that needs the zone database,
        which the domain does not read); returns whether it changed.
        """
        if not timezone or len(timezone) > MAX_TIMEZONE_LENGTH:
            raise InvalidValueError("timezone", "Must be an IANA time zone name.")
        if timezone == self.timezone:
            return False
        self._set_timezone(timezone=timezone, **stamp.event_fields())
        return True

    @event(TimezoneChanged)
    def _set_timezone(
        self, timezone: str, timestamp: datetime, actor: dict[str, Any], request_id: str
    ) -> None:
        self.timezone = timezone

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
