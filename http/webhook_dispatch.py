"""The webhook dispatcher as this service runs it: its settings, its guard, and `data`,
the resource as the API shows it after the event."""

from __future__ import annotations

from typing import Any

import psycopg

from timetracker.commands.application import TimeTracking
from timetracker.domain.client import Client
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.task import Task
from timetracker.domain.timer import Timer
from timetracker.domain.values import aggregate_id
from timetracker.eventlog.reader import EventLog, Identity, Logged
from timetracker.http.as_of import client_row, entry_row, project_row, task_row
from timetracker.http.clients import client_json
from timetracker.http.projects import project_json
from timetracker.http.settings import Settings
from timetracker.http.tasks import task_json
from timetracker.http.time_entries import entry_json
from timetracker.projections.engine.leadership import Leadership
from timetracker.projections.engine.replay import replay_all
from timetracker.webhooks.dispatcher import Dispatcher, DispatchSettings
from timetracker.webhooks.ssrf import AddressGuard
from timetracker.webhooks.store import after_restore


def address_guard(settings: Settings) -> AddressGuard:
    """Where webhooks may point, as configured."""
    return AddressGuard(
        allow_http=settings.webhooks_allow_http,
        allow_private=settings.webhooks_allow_private_networks,
    )


def _entry_data(entry: Entry | None, number: int) -> dict[str, Any]:
    if entry is None or entry.deleted:
        return {"id": number, "deleted": True}
    return entry_json(entry_row(entry))


def _entry_after_request(log: EventLog, entry_id: int, logged: Logged) -> Any:
    """The entry a timer event is about, with what the same request did to it: a stop
    records TimerStopped before the entry's EntryEdited."""
    entry: Any = None
    for item in log.stream(aggregate_id("time_entry", entry_id)):
        same_request = bool(logged.request_id) and item.request_id == logged.request_id
        if item.position <= logged.position or same_request:
            entry = item.event.mutate(entry)
    return entry


def resource_data(log: EventLog, logged: Logged, identity: Identity, state: Any) -> dict[str, Any]:
    """`data` of a delivery: the resource after the event, as the API shows it (a deleted
    one: its id and `deleted: true`); for a timer event, the time entry it started or
    stopped."""
    match state:
        case Entry():
            return _entry_data(state, state.number)
        case Timer():
            entry_id = int(logged.event.entry_id)  # type: ignore[attr-defined]
            entry = _entry_after_request(log, entry_id, logged)
            return _entry_data(entry if isinstance(entry, Entry) else None, entry_id)
        case Project():
            client = None
            if state.client_id is not None:
                found = log.state_at(aggregate_id("client", state.client_id), logged.position)
                client = found if isinstance(found, Client) else None
            return project_json(project_row(state, client))
        case Task():
            if state.deleted:
                return {"id": state.number, "deleted": True}
            return task_json(task_row(state))
        case Client():
            return client_json(client_row(state))
    return {"id": identity.number}


def create_dispatcher(
    store: TimeTracking,
    settings: Settings,
    guard: AddressGuard | None = None,
    leadership: Leadership | None = None,
    listen: bool = True,
) -> Dispatcher:
    """The dispatcher for this service's settings (sharing the projection service's
    leadership connection when given it)."""
    return Dispatcher(
        store,
        settings.conninfo,
        guard or address_guard(settings),
        resource_data,
        DispatchSettings(
            retry_scale=settings.webhooks_retry_scale,
            max_per_host=settings.webhooks_max_per_host,
        ),
        leadership,
        listen,
    )


def replay_after_restore(
    store: TimeTracking, settings: Settings, progress: Any = None
) -> dict[str, int]:
    """What a restore runs once the events are in: every read model replayed, and the
    dispatcher told to follow the restored log from the start without sending any of it
    (`webhooks.store.after_restore`)."""
    positions = replay_all(
        store, settings.conninfo, settings.redis_url, settings.redis_prefix, progress
    )
    head = int(store.recorder.max_notification_id() or 0)
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        after_restore(conn, head)
    return positions
