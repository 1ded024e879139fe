"""Domain errors: rule violations raised by aggregate methods."""

from __future__ import annotations


class TimeTrackingError(Exception):
    """Base class of every error the domain raises."""


class InvalidValueError(TimeTrackingError):
    """A value breaks a rule of the resource (HTTP 400 on that field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ConflictError(TimeTrackingError):
    """The change conflicts with the resource's current state (HTTP 409)."""

    code = "conflict"


class ProjectIsArchivedError(ConflictError):
    """Work cannot be booked on, or changes made to, an archived project."""

    code = "project_archived"


class AlreadyArchivedError(ConflictError):
    """The resource is archived already."""

    code = "already_archived"


class NameTakenError(ConflictError):
    """Another active resource of this type holds the name."""

    code = "name_taken"


class TokenAlreadyRevokedError(ConflictError):
    """The API token was revoked before."""

    code = "token_revoked"


class UserDeactivatedError(ConflictError):
    """The user is deactivated: no new password, role or second deactivation."""

    code = "user_deactivated"


class EntryNotDeletedError(ConflictError):
    """Only a deleted time entry can be restored."""

    code = "not_deleted"


class TaskDeletedError(TimeTrackingError):
    """The task was deleted (HTTP 404)."""


class EntryDeletedError(TimeTrackingError):
    """The time entry was deleted (HTTP 404)."""


class NotYourEntryError(TimeTrackingError):
    """A normal user acted on another user's entry (HTTP 404: its existence is not revealed)."""


class TimerAlreadyRunningError(ConflictError):
    """The user has a running timer already."""

    code = "timer_already_running"


class NoActiveTimerError(ConflictError):
    """The user has no running timer to stop."""

    code = "no_active_timer"
