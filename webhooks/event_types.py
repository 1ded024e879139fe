"""Which webhook event types an event of the log is, and who may receive it."""

from __future__ import annotations

from typing import Any

from timetracker.domain.kinds import KINDS
from timetracker.domain.webhook import ALL_EVENTS
from timetracker.eventlog.reader import Identity, Logged

# Log event name -> webhook type (a change of status adds a second type, see below).
_TYPES = {
    "EntryCreated": "time_entry.created",
    "EntryEdited": "time_entry.updated",
    "EntryDeleted": "time_entry.deleted",
    "EntryRestored": "time_entry.restored",
    "TimerStarted": "timer.started",
    "TimerStopped": "timer.stopped",
    "ProjectCreated": "project.created",
    "ProjectUpdated": "project.updated",
    "ProjectArchived": "project.archived",
    "TaskCreated": "task.created",
    "TaskUpdated": "task.updated",
    "ClientCreated": "client.created",
    "ClientUpdated": "client.updated",
    "ClientArchived": "client.archived",
}
DELIVERED_KINDS = frozenset({"time_entry", "timer", "project", "task", "client"})
# A normal user's webhook carries only their own of these (the registry's own-only kinds).
OWN_ONLY = frozenset(kind.name for kind in KINDS if kind.own_only) & DELIVERED_KINDS


def webhook_types(logged: Logged) -> list[str]:
    """The webhook event types of one logged event (none for most bookkeeping events)."""
    main = _TYPES.get(logged.type.name)
    if main is None:
        return []
    types = [main]
    changes: dict[str, Any] = getattr(logged.event, "changes", None) or {}
    status = changes.get("status")
    if logged.type.name in ("ProjectUpdated", "ProjectArchived") and (
        status is not None or logged.type.name == "ProjectArchived"
    ):
        types.append("project.status_changed")
    if logged.type.name == "TaskUpdated" and status is not None and status["to"] == "done":
        types.append("task.completed")
    return types


def subscribed(events: list[str], event_type: str) -> bool:
    """Whether a subscription to `events` wants `event_type`."""
    return ALL_EVENTS in events or event_type in events


def may_receive(owner_id: int, owner_is_admin: bool, identity: Identity) -> bool:
    """Whether a subscription's owner may read the resource the event is about: an admin
    everything delivered; a normal user the catalogue and only their own entries and timer."""
    if identity.kind not in DELIVERED_KINDS:
        return False
    if identity.kind in OWN_ONLY and not owner_is_admin:
        return identity.owner == owner_id
    return True
