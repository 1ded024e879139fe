"""The Client aggregate: a customer that projects are done for."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from timetracker.domain.errors import AlreadyArchivedError, InvalidValueError
from timetracker.domain.events import RecordedCreation, RecordedEvent
from timetracker.domain.rules import require_amount, require_choice, require_name
from timetracker.domain.values import Stamp, aggregate_id, changes_between

CLIENT_STATUSES = ("active", "archived")
CLIENT_FIELDS = (
    "name",
    "email",
    "company",
    "phone",
    "contact_person",
    "address",
    "default_hourly_rate",
    "status",
)


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    checked = dict(values)
    if "name" in checked:
        checked["name"] = require_name("name", checked["name"])
    if "default_hourly_rate" in checked:
        checked["default_hourly_rate"] = require_amount(
            "default_hourly_rate", checked["default_hourly_rate"]
        )
    if "status" in checked:
        require_choice("status", checked["status"], CLIENT_STATUSES)
    unknown = set(checked) - set(CLIENT_FIELDS)
    if unknown:
        raise InvalidValueError(sorted(unknown)[0], "Unknown field.")
    return checked


class Client(Aggregate):
    """A client; `number` is the public id; the name is unique among active clients."""

    class Created(RecordedCreation):
        number: int
        fields: dict[str, Any]

    class Updated(RecordedEvent):
        changes: dict[str, Any]

    class Archived(RecordedEvent):
        pass

    @staticmethod
    def create_id(number: int) -> UUID:
        return aggregate_id("client", number)

    @classmethod
    def create(cls, number: int, values: dict[str, Any], stamp: Stamp) -> Client:
        """Create a client (event ClientCreated)."""
        if values.get("name") is None:  # absent, the event would record a nameless row
            raise InvalidValueError("name", "Required.")
        fields: dict[str, Any] = {name: None for name in CLIENT_FIELDS}
        fields["status"] = "active"
        fields.update(_checked(values))
        if fields["status"] != "active":
            raise InvalidValueError("status", "A new client is active.")
        return cls(number=number, fields=fields, **stamp.event_fields())

    @event(Created)
    def __init__(
        self,
        number: int,
        fields: dict[str, Any],
        timestamp: datetime,
        actor: dict[str, Any],
        request_id: str,
    ) -> None:
        self.number = number
        self.name: str = fields["name"]
        self.email: str | None = fields["email"]
        self.company: str | None = fields["company"]
        self.phone: str | None = fields["phone"]
        self.contact_person: str | None = fields["contact_person"]
        self.address: str | None = fields["address"]
        self.default_hourly_rate: Decimal | None = fields["default_hourly_rate"]
        self.status: str = fields["status"]

    @property
    def is_archived(self) -> bool:
        return self.status == "archived"

    def current(self) -> dict[str, Any]:
        """The client's editable fields and their values."""
        return {name: getattr(self, name) for name in CLIENT_FIELDS}

    def update(self, values: dict[str, Any], stamp: Stamp) -> dict[str, Any]:
        """Change fields (event ClientUpdated, only if something differs); returns the changes.

        Setting `status` to `archived` archives the client (event ClientArchived).
        """
        status_before = self.status
        checked = _checked(values)
        archive = checked.get("status") == "archived"
        if archive:
            del checked["status"]
        changes = changes_between(self.current(), checked)
        if changes:
            self._update(changes=changes, **stamp.event_fields())
        if archive and not self.is_archived:
            self.archive(stamp)
            changes = {**changes, "status": {"from": status_before, "to": "archived"}}
        return changes

    @event(Updated)
    def _update(
        self,
        changes: dict[str, Any],
        timestamp: datetime,
        actor: dict[str, Any],
        request_id: str,
    ) -> None:
        for name, change in changes.items():
            setattr(self, name, change["to"])

    def archive(self, stamp: Stamp) -> None:
        """Archive the client (event ClientArchived)."""
        if self.is_archived:
            raise AlreadyArchivedError(f"Client {self.number} is archived already.")
        self._archive(**stamp.event_fields())

    @event(Archived)
    def _archive(self, timestamp: datetime, actor: dict[str, Any], request_id: str) -> None:
        self.status = "archived"
