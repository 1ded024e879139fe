"""Commands: what a caller asks the write side to do, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from timetracker.domain.values import Stamp


@dataclass(frozen=True)
class Written:
    """What a command wrote: the resource's id and version, and the last event's position.

    `position` is None when nothing changed (no event was written). `saved` is the
    aggregate as saved, when a command offers it: a response can be built from it instead
    of reading the resource back.
    """

    id: int
    version: int
    position: int | None
    saved: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RegisterUser:
    username: str
    email: str | None
    full_name: str | None
    role: str
    stamp: Stamp


@dataclass(frozen=True)
class IssueApiToken:
    username: str
    scopes: list[str]
    name: str
    expires_at: datetime | None
    stamp: Stamp


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the secret is returned once and never stored."""

    id: int
    prefix: str
    token: str
    position: int


@dataclass(frozen=True)
class RevokeApiToken:
    token_id: int
    stamp: Stamp


@dataclass(frozen=True)
class SetPassword:
    """Give a user a console password (hashed by the command; never stored in clear)."""

    user_id: int
    password: str = field(repr=False)
    stamp: Stamp


@dataclass(frozen=True)
class ChangeRole:
    user_id: int
    role: str
    stamp: Stamp


@dataclass(frozen=True)
class DeactivateUser:
    user_id: int
    stamp: Stamp


@dataclass(frozen=True)
class SetUserTimezone:
    user_id: int
    timezone: str
    stamp: Stamp


@dataclass(frozen=True)
class CreateClient:
    values: dict[str, Any]
    stamp: Stamp


@dataclass(frozen=True)
class UpdateClient:
    client_id: int
    values: dict[str, Any]
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class ArchiveClient:
    client_id: int
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class CreateProject:
    values: dict[str, Any]
    stamp: Stamp


@dataclass(frozen=True)
class UpdateProject:
    project_id: int
    values: dict[str, Any]
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class ArchiveProject:
    project_id: int
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class CreateTask:
    project_id: int
    values: dict[str, Any]
    stamp: Stamp


@dataclass(frozen=True)
class UpdateTask:
    task_id: int
    values: dict[str, Any]
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class DeleteTask:
    task_id: int
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class CreateEntry:
    """Record time for `user_id`; without `end_time` in `values` it starts a timer."""

    user_id: int
    values: dict[str, Any]
    stamp: Stamp
    source: str = "api"


@dataclass(frozen=True)
class NewEntry:
    """One finished entry of a batch: its owner, its values as a create takes them, and
    (imports only) its key in the tool it came from."""

    user_id: int
    values: dict[str, Any]
    external_key: str | None = None


@dataclass(frozen=True)
class CreateEntries:
    """Record finished entries all or nothing, in one transaction (`items` in order)."""

    items: list[NewEntry]
    stamp: Stamp
    source: str = "api"
    field_prefix: str = "time_entries"


@dataclass(frozen=True)
class WrittenEntries:
    """The entries a batch recorded, in the batch's order, and the last event's position."""

    entries: list[Any]
    position: int | None


@dataclass(frozen=True)
class EditEntry:
    entry_id: int
    values: dict[str, Any]
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class DeleteEntry:
    entry_id: int
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class RestoreEntry:
    """Bring back a deleted entry; without an end it runs again and starts the timer."""

    entry_id: int
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class RevertEntry:
    """Return an entry to its fields at an earlier `version` (a new edit)."""

    entry_id: int
    version: int
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class StopTimer:
    user_id: int
    stamp: Stamp


@dataclass(frozen=True)
class CreateWebhook:
    values: dict[str, Any]
    stamp: Stamp


@dataclass(frozen=True)
class CreatedWebhook(Written):
    """A webhook with a new signing secret, shown once in the response."""

    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class UpdateWebhook:
    webhook_id: int
    values: dict[str, Any]
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class DeleteWebhook:
    webhook_id: int
    stamp: Stamp
    expected_version: int | None = None


@dataclass(frozen=True)
class RotateWebhookSecret:
    webhook_id: int
    stamp: Stamp


@dataclass(frozen=True)
class DisableWebhook:
    """Stop a subscription whose deliveries kept failing (the dispatcher's command)."""

    webhook_id: int
    reason: str
    stamp: Stamp
