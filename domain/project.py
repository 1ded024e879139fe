"""The Project aggregate: work that time is booked on."""

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

PROJECT_STATUSES = ("active", "on_hold", "archived")
PROJECT_FIELDS = (
    "name",
    "description",
    "client_id",
    "hourly_rate",
    "estimated_hours",
    "billable",
    "status",
)


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    checked = dict(values)
    unknown = set(checked) - set(PROJECT_FIELDS)
    if unknown:
        raise InvalidValueError(sorted(unknown)[0], "Unknown field.")
    if "name" in checked:
        checked["name"] = require_name("name", checked["name"])
    for amount in ("hourly_rate", "estimated_hours"):
        if amount in checked:
            checked[amount] = require_amount(amount, checked[amount])
    if "status" in checked:
        require_choice("status", checked["status"], PROJECT_STATUSES)
    if "billable" in checked and not isinstance(checked["billable"], bool):
        raise InvalidValueError("billable", "Must be true or false.")
    return checked


class Project(Aggregate):
    """A project; `number` is the public id. Archived projects take no new time."""

    class Created(RecordedCreation):
        number: int
        fields: dict[str, Any]

    class Updated(RecordedEvent):
        changes: dict[str, Any]

    class Archived(RecordedEvent):
        pass

    @staticmethod
    def create_id(number: int) -> UUID:
        return aggregate_id("project", number)

    @classmethod
    def create(cls, number: int, values: dict[str, Any], stamp: Stamp) -> Project:
        """Create a project (event ProjectCreated); a client, if named, is checked by the caller."""
        if values.get("name") is None:  # absent, the event would record a nameless row
            raise InvalidValueError("name", "Required.")
        fields: dict[str, Any] = {name: None for name in PROJECT_FIELDS}
        fields.update(billable=True, status="active")
        fields.update(_checked(values))
        if fields["status"] == "archived":
            raise InvalidValueError("status", "A new project cannot be archived.")
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
        self.description: str | None = fields["description"]
        self.client_id: int | None = fields["client_id"]
        self.hourly_rate: Decimal | None = fields["hourly_rate"]
        self.estimated_hours: Decimal | None = fields["estimated_hours"]
        self.billable: bool = fields["billable"]
        self.status: str = fields["status"]
        self.archived_at: datetime | None = None

    @property
    def is_archived(self) -> bool:
        return self.status == "archived"

    def current(self) -> dict[str, Any]:
        """The project's editable fields and their values."""
        return {name: getattr(self, name) for name in PROJECT_FIELDS}

    def update(self, values: dict[str, Any], stamp: Stamp) -> dict[str, Any]:
        """Change fields (event ProjectUpdated, only if something differs); returns the changes.

        Setting `status` to `archived` archives the project (event ProjectArchived); setting an
        archived project's status to `active` or `on_hold` brings it back.
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
        if "status" in changes and changes["status"]["to"] != "archived":
            self.archived_at = None

    def archive(self, stamp: Stamp) -> None:
        """Archive the project (event ProjectArchived): still readable, no new time."""
        if self.is_archived:
            raise AlreadyArchivedError(f"Project {self.number} is archived already.")
        self._archive(**stamp.event_fields())

    @event(Archived)
    def _archive(self, timestamp: datetime, actor: dict[str, Any], request_id: str) -> None:
        self.status = "archived"
        self.archived_at = timestamp
