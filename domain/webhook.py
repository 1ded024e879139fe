"""The Webhook aggregate: a subscription that has events of the log sent to a URL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from timetracker.domain.errors import InvalidValueError, TimeTrackingError
from timetracker.domain.events import RecordedCreation, RecordedEvent
from timetracker.domain.values import Stamp, aggregate_id, changes_between

# The event types a subscription may ask for; `*` stands for all of them.
WEBHOOK_EVENT_TYPES = (
    "time_entry.created",
    "time_entry.updated",
    "time_entry.deleted",
    "time_entry.restored",
    "timer.started",
    "timer.stopped",
    "project.created",
    "project.updated",
    "project.status_changed",
    "project.archived",
    "task.created",
    "task.updated",
    "task.completed",
    "client.created",
    "client.updated",
    "client.archived",
)
ALL_EVENTS = "*"
TEST_EVENT = "webhook.test"  # sent by `POST /webhooks/{id}/test` only
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 1000
WEBHOOK_FIELDS = ("url", "events", "description", "active")


class WebhookDeletedError(TimeTrackingError):
    """The webhook was deleted (HTTP 404)."""


class NotYourWebhookError(TimeTrackingError):
    """A normal user acted on another user's webhook (HTTP 404: its existence is hidden)."""


def check_events(events: Any) -> list[str]:
    """The event types asked for, each known (or `*`), without repeats, in the order given."""
    if not isinstance(events, list) or not events:
        raise InvalidValueError("events", "Give at least one event type.")
    unknown = [e for e in events if e != ALL_EVENTS and e not in WEBHOOK_EVENT_TYPES]
    if unknown:
        raise InvalidValueError("events", f"Unknown event type {unknown[0]!r}.")
    return list(dict.fromkeys(events))


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    checked = dict(values)
    unknown = set(checked) - set(WEBHOOK_FIELDS)
    if unknown:
        raise InvalidValueError(sorted(unknown)[0], "Unknown field.")
    if "url" in checked:
        url = checked["url"]
        if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
            raise InvalidValueError("url", f"A URL of 1 to {MAX_URL_LENGTH} characters.")
    if "events" in checked:
        checked["events"] = check_events(checked["events"])
    description = checked.get("description")
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidValueError("description", "Too long.")
    if "active" in checked and not isinstance(checked["active"], bool):
        raise InvalidValueError("active", "Must be true or false.")
    return checked


class Webhook(Aggregate):
    """A subscription of one user: `number` is the public id.

    The signing secret is recorded in the events (the dispatcher needs it), and never shown
    in histories or the feed.
    """

    class Created(RecordedCreation):
        number: int
        owner_id: int
        owner_is_admin: bool
        url: str
        events: list[str]
        description: str | None
        secret: str

    class Updated(RecordedEvent):
        changes: dict[str, Any]

    class SecretRotated(RecordedEvent):
        secret: str

    class Disabled(RecordedEvent):
        reason: str

    class Deleted(RecordedEvent):
        pass

    @staticmethod
    def create_id(number: int) -> UUID:
        return aggregate_id("webhook", number)

    @classmethod
    def create(
        cls,
        number: int,
        values: dict[str, Any],
        secret: str,
        stamp: Stamp,
    ) -> Webhook:
        """Subscribe the acting user (event WebhookCreated)."""
        if stamp.user_id is None:
            raise InvalidValueError("user_id", "A webhook belongs to a user.")
        for required in ("url", "events"):
            if values.get(required) is None:
                raise InvalidValueError(required, "Required.")
        checked = _checked(values)
        if checked.get("active") is False:
            raise InvalidValueError("active", "A new webhook is active.")
        return cls(
            number=number,
            owner_id=stamp.user_id,
            owner_is_admin=stamp.is_admin,
            url=checked["url"],
            events=checked["events"],
            description=checked.get("description"),
            secret=secret,
            **stamp.event_fields(),
        )

    @event(Created)
    def __init__(
        self,
        number: int,
        owner_id: int,
        owner_is_admin: bool,
        url: str,
        events: list[str],
        description: str | None,
        secret: str,
        timestamp: datetime,
        actor: dict[str, Any],
        request_id: str,
    ) -> None:
        self.number = number
        self.owner_id = owner_id
        self.owner_is_admin = owner_is_admin
        self.url = url
        self.events = list(events)
        self.description = description
        self.secret = secret
        self.active = True
        self.disabled_reason: str | None = None
        self.deleted = False

    def current(self) -> dict[str, Any]:
        """The editable fields and their values."""
        return {name: getattr(self, name) for name in WEBHOOK_FIELDS}

    def check_access(self, stamp: Stamp) -> None:
        """Only the owner or an admin may see or change a webhook; a deleted one is gone."""
        if not stamp.is_admin and stamp.user_id != self.owner_id:
            raise NotYourWebhookError(f"Webhook {self.number} not found.")
        if self.deleted:
            raise WebhookDeletedError(f"Webhook {self.number} was deleted.")

    def update(self, values: dict[str, Any], stamp: Stamp) -> dict[str, Any]:
        """Change fields (event WebhookUpdated, only if something differs); returns the
        changes. Setting `active` to true again clears the reason it was disabled for."""
        self.check_access(stamp)
        changes = changes_between(self.current(), _checked(values))
        if changes.get("active", {}).get("to") is True and self.disabled_reason is not None:
            changes["disabled_reason"] = {"from": self.disabled_reason, "to": None}
        if changes:
            self._update(changes=changes, **stamp.event_fields())
        return changes

    @event(Updated)
    def _update(
        self, changes: dict[str, Any], timestamp: datetime, actor: dict[str, Any], request_id: str
    ) -> None:
        for name, change in changes.items():
            setattr(self, name, change["to"])

    def rotate_secret(self, secret: str, stamp: Stamp) -> None:
        """Replace the signing secret (event WebhookSecretRotated)."""
        self.check_access(stamp)
        self._rotate(secret=secret, **stamp.event_fields())

    @event(SecretRotated)
    def _rotate(
        self, secret: str, timestamp: datetime, actor: dict[str, Any], request_id: str
    ) -> None:
        self.secret = secret

    def disable(self, reason: str, stamp: Stamp) -> bool:
        """Stop deliveries (event WebhookDisabled); False when it was inactive already."""
        if self.deleted or not self.active:
            return False
        self._disable(reason=reason, **stamp.event_fields())
        return True

    @event(Disabled)
    def _disable(
        self, reason: str, timestamp: datetime, actor: dict[str, Any], request_id: str
    ) -> None:
        self.active = False
        self.disabled_reason = reason

    def delete(self, stamp: Stamp) -> None:
        """Unsubscribe for good (event WebhookDeleted)."""
        self.check_access(stamp)
        self._delete(**stamp.event_fields())

    @event(Deleted)
    def _delete(self, timestamp: datetime, actor: dict[str, Any], request_id: str) -> None:
        self.deleted = True
        self.active = False
