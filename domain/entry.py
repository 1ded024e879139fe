"""The Entry aggregate: one stretch of time a user spent on a project."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from timetracker.domain.errors import (
    EntryDeletedError,
    EntryNotDeletedError,
    InvalidValueError,
    NotYourEntryError,
    ProjectIsArchivedError,
)
from timetracker.domain.events import RecordedCreation, RecordedEvent
from timetracker.domain.project import Project
from timetracker.domain.rules import MAX_TEXT_LENGTH
from timetracker.domain.task import Task
from timetracker.domain.values import Stamp, aggregate_id, changes_between

ENTRY_FIELDS = ("project_id", "task_id", "start_time", "end_time", "notes", "tags", "billable")
MAX_TAGS_LENGTH = 1000


def normalise_tags(tags: str | list[str] | None) -> str | None:
    """Tags as one comma-separated string without blanks (a list is accepted too)."""
    if tags is None:
        return None
    parts = tags if isinstance(tags, list) else tags.split(",")
    cleaned = [p.strip() for p in parts if p.strip()]
    joined = ",".join(cleaned)
    if len(joined) > MAX_TAGS_LENGTH:
        raise InvalidValueError("tags", f"Longer than {MAX_TAGS_LENGTH} characters.")
    return joined or None


def duration_of(start: datetime, end: datetime | None) -> int | None:
    """Whole seconds from start to end (None while running)."""
    return None if end is None else int((end - start).total_seconds())


def _check_times(start: datetime, end: datetime | None, now: datetime) -> None:
    if start.tzinfo is None or (end is not None and end.tzinfo is None):
        raise InvalidValueError("start_time", "Times must carry a time zone.")
    if end is not None and end <= start:
        raise InvalidValueError("end_time", "Must be after start_time.")
    if end is None and start > now:
        # A running entry is stopped at the time of the stop request, which must come after.
        raise InvalidValueError("start_time", "A running entry cannot start in the future.")


def _check_project_and_task(
    project: Project, task: Task | None, kept_task_id: int | None = None
) -> None:
    """`kept_task_id`: the entry's current task, which stays valid after it is deleted."""
    if project.is_archived:
        raise ProjectIsArchivedError(f"Project {project.number} is archived.")
    if task is None:
        return
    if (task.deleted and task.number != kept_task_id) or task.project_id != project.number:
        raise InvalidValueError("task_id", f"Task {task.number} is not a task of this project.")


def _check_notes(notes: str | None) -> None:
    if notes is not None and len(notes) > MAX_TEXT_LENGTH:
        raise InvalidValueError("notes", f"Longer than {MAX_TEXT_LENGTH} characters.")


def _check_actor(user_id: int, stamp: Stamp) -> None:
    if user_id != stamp.user_id and not stamp.is_admin:
        raise NotYourEntryError("Time entry not found.")


class Entry(Aggregate):
    """A time entry; `number` is the public id. Without an end it is a running timer."""

    class Created(RecordedCreation):
        """EntryCreated. Version 2 added `external_key` (None unless imported): the key
        of the entry in the tool it was imported from, which makes a re-import a no-op."""

        class_version = 2

        number: int
        user_id: int
        fields: dict[str, Any]
        source: str
        external_key: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["external_key"] = None

    class Edited(RecordedEvent):
        changes: dict[str, Any]

    class Deleted(RecordedEvent):
        pass

    class Restored(RecordedEvent):
        """A deleted entry is back; carries its whole state, as a creation does."""

        number: int
        user_id: int
        fields: dict[str, Any]
        source: str
        created_at: datetime

    @staticmethod
    def create_id(number: int) -> UUID:
        return aggregate_id("time_entry", number)

    @classmethod
    def create(
        cls,
        number: int,
        user_id: int,
        project: Project,
        task: Task | None,
        values: dict[str, Any],
        source: str,
        stamp: Stamp,
        external_key: str | None = None,
    ) -> Entry:
        """Record an entry (event EntryCreated); without `end_time` it starts running."""
        _check_actor(user_id, stamp)
        _check_project_and_task(project, task)
        start, end = values["start_time"], values.get("end_time")
        _check_times(start, end, stamp.at)
        _check_notes(values.get("notes"))
        fields = {
            "project_id": project.number,
            "task_id": None if task is None else task.number,
            "start_time": start,
            "end_time": end,
            "notes": values.get("notes"),
            "tags": normalise_tags(values.get("tags")),
            "billable": values.get("billable", True),
        }
        return cls(
            number=number,
            user_id=user_id,
            fields=fields,
            source=source,
            external_key=external_key,
            **stamp.event_fields(),
        )

    @event(Created)
    def __init__(
        self,
        number: int,
        user_id: int,
        fields: dict[str, Any],
        source: str,
        external_key: str | None,
        timestamp: datetime,
        actor: dict[str, Any],
        request_id: str,
    ) -> None:
        self.number = number
        self.user_id = user_id
        self.source = source
        self.external_key = external_key
        self.project_id: int = fields["project_id"]
        self.task_id: int | None = fields["task_id"]
        self.start_time: datetime = fields["start_time"]
        self.end_time: datetime | None = fields["end_time"]
        self.notes: str | None = fields["notes"]
        self.tags: str | None = fields["tags"]
        self.billable: bool = fields["billable"]
        self.duration_seconds = duration_of(self.start_time, self.end_time)
        self.deleted = False

    @property
    def is_running(self) -> bool:
        return self.end_time is None and not self.deleted

    def current(self) -> dict[str, Any]:
        """The entry's editable fields and its duration."""
        values = {name: getattr(self, name) for name in ENTRY_FIELDS}
        values["duration_seconds"] = self.duration_seconds
        return values

    def check_access(self, stamp: Stamp) -> None:
        """Refuse a normal user who is not the entry's owner (as if it did not exist)."""
        _check_actor(self.user_id, stamp)
        if self.deleted:
            raise EntryDeletedError(f"Time entry {self.number} was deleted.")

    def edit(
        self, values: dict[str, Any], project: Project, task: Task | None, stamp: Stamp
    ) -> dict[str, Any]:
        """Change fields (event EntryEdited with only the changed fields, old and new).

        `project` and `task` are the ones the entry will have afterwards. The duration is
        recomputed whenever a time changes. Setting `end_time` on a running entry stops it.
        """
        self.check_access(stamp)
        proposed = dict(values)
        if "tags" in proposed:
            proposed["tags"] = normalise_tags(proposed["tags"])
        if "end_time" in proposed and proposed["end_time"] is None and self.end_time is not None:
            raise InvalidValueError("end_time", "An entry's end cannot be removed.")
        proposed["project_id"] = project.number
        proposed["task_id"] = None if task is None else task.number
        _check_project_and_task(project, task, kept_task_id=self.task_id)
        start = proposed.get("start_time", self.start_time)
        end = proposed.get("end_time", self.end_time)
        _check_times(start, end, stamp.at)
        _check_notes(proposed.get("notes"))
        proposed["duration_seconds"] = duration_of(start, end)
        changes = changes_between(self.current(), proposed)
        if changes:
            self._edit(changes=changes, **stamp.event_fields())
        return changes

    @event(Edited)
    def _edit(
        self,
        changes: dict[str, Any],
        timestamp: datetime,
        actor: dict[str, Any],
        request_id: str,
    ) -> None:
        for name, change in changes.items():
            setattr(self, name, change["to"])

    def stop(self, stamp: Stamp) -> dict[str, Any]:
        """End a running entry now (event EntryEdited); allowed on archived projects too."""
        self.check_access(stamp)
        end = stamp.at
        _check_times(self.start_time, end, stamp.at)
        changes = changes_between(
            self.current(),
            {"end_time": end, "duration_seconds": duration_of(self.start_time, end)},
        )
        self._edit(changes=changes, **stamp.event_fields())
        return changes

    def delete(self, stamp: Stamp) -> None:
        """Delete the entry (event EntryDeleted): gone from lists and reports, history kept."""
        self.check_access(stamp)
        self._delete(**stamp.event_fields())

    @event(Deleted)
    def _delete(self, timestamp: datetime, actor: dict[str, Any], request_id: str) -> None:
        self.deleted = True

    def restore(self, project: Project, stamp: Stamp) -> None:
        """Bring a deleted entry back (event EntryRestored); its project must not be archived.

        A restored entry without an end runs again: the caller starts the user's timer.
        """
        _check_actor(self.user_id, stamp)
        if not self.deleted:
            raise EntryNotDeletedError(f"Time entry {self.number} is not deleted.")
        if project.is_archived:
            raise ProjectIsArchivedError(f"Project {project.number} is archived.")
        self._restore(
            number=self.number,
            user_id=self.user_id,
            fields={name: getattr(self, name) for name in ENTRY_FIELDS},
            source=self.source,
            created_at=self.created_on,
            **stamp.event_fields(),
        )

    @event(Restored)
    def _restore(
        self,
        number: int,
        user_id: int,
        fields: dict[str, Any],
        source: str,
        created_at: datetime,
        timestamp: datetime,
        actor: dict[str, Any],
        request_id: str,
    ) -> None:
        self.deleted = False
