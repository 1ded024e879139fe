"""The User aggregate: someone who tracks time, a normal user or an admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from timetracker.domain.events import RecordedCreation
from timetracker.domain.rules import require_choice, require_name
from timetracker.domain.values import Stamp, aggregate_id

ROLES = ("user", "admin")


class User(Aggregate):
    """A registered user; `number` is the public id."""

    class Registered(RecordedCreation):
        number: int
        username: str
        email: str | None
        full_name: str | None
        role: str

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

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
