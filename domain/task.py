"""The Task aggregate: a piece of work inside one project."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from timetracker.domain.errors import InvalidValueError, ProjectIsArchivedError, TaskDeletedError
from timetracker.domain.events import RecordedCreation, RecordedEvent
from timetracker.domain.project import Project
from timetracker.domain.rules import MAX_TEXT_LENGTH, require_choice, require_name
from timetracker.domain.values import Stamp, aggregate_id, changes_between

TASK_STATUSES = ("todo", "in_progress", "review", "done", "cancelled")
TASK_PRIORITIES = ("low", "medium", "high", "urgent")
TASK_FIELDS = ("name", "description", "status", "priority")


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    checked = dict(values)
    unknown = set(checked) - set(TASK_FIELDS)
    if unknown:
        raise InvalidValueError(min(unknown), "Unknown field.")
    if "name" in checked:
        checked["name"] = require_name("name", checked["name"])
    if checked.get("description") is not None and len(checked["description"]) > MAX_TEXT_LENGTH:
        raise InvalidValueError("description", f"Longer than {MAX_TEXT_LENGTH} characters.")
    if "status" in checked:
        require_choice("status", checked["status"], TASK_STATUSES)
    if "priority" in checked:
        require_choice("priority", checked["priority"], TASK_PRIORITIES)
    return checked


class Task(Aggregate):
    """A task; `number` is the public id. Deleting it leaves its time entries alone."""

    class Created(RecordedCreation):
        number: int
        project_id: int
        fields: dict[str, Any]

    class Updated(RecordedEvent):
        changes: dict[str, Any]

    class Deleted(RecordedEvent):
        pass

    @staticmethod
    def create_id(number: int) -> UUID:
        return aggregate_id("task", number)

    @classmethod
    def create(cls, number: int, project: Project, values: dict[str, Any], stamp: Stamp) -> Task:
        """Create a task in a project that is not archived (event TaskCreated)."""
        if project.is_archived:
            raise ProjectIsArchivedError(f"Project {project.number} is archived.")
        fields: dict[str, Any] = {"description": None, "status": "todo", "priority": "medium"}
        fields.update(_checked(values))
        if "name" not in fields:
            raise InvalidValueError("name", "Missing data for required field.")
        return cls(number=number, project_id=project.number, fields=fields, **stamp.event_fields())

    @event(Created)
    def __init__(
        self,
        number: int,
        project_id: int,
        fields: dict[str, Any],
        timestamp: datetime,
        actor: dict[str, Any],
        request_id: str,
    ) -> None:
        self.number = number
        self.project_id = project_id
        self.name: str = fields["name"]
        self.description: str | None = fields["description"]
        self.status: str = fields["status"]
        self.priority: str = fields["priority"]
        self.deleted = False

    def current(self) -> dict[str, Any]:
        """The task's editable fields and their values."""
        return {name: getattr(self, name) for name in TASK_FIELDS}

    def update(self, values: dict[str, Any], stamp: Stamp) -> dict[str, Any]:
        """Change fields (event TaskUpdated, only if something differs); returns the changes."""
        self._check_not_deleted()
        changes = changes_between(self.current(), _checked(values))
        if changes:
            self._update(changes=changes, **stamp.event_fields())
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

    def delete(self, stamp: Stamp) -> None:
        """Delete the task (event TaskDeleted); its history stays."""
        self._check_not_deleted()
        self._delete(**stamp.event_fields())

    @event(Deleted)
    def _delete(self, timestamp: datetime, actor: dict[str, Any], request_id: str) -> None:
        self.deleted = True

    def _check_not_deleted(self) -> None:
        if self.deleted:
            raise TaskDeletedError(f"Task {self.number} was deleted.")
