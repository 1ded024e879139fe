"""The dispatcher's `Deliverer` on a real event store: while no subscription sends it decodes
only what can change subscriptions, yet a subscription created within a batch gets the
events that follow it in the same batch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.history import T0, build_catalogue
from timetracker.commands.application import TimeTracking
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.values import Stamp
from timetracker.domain.webhook import Webhook
from timetracker.eventlog.reader import EventLog
from timetracker.http.webhook_dispatch import resource_data
from timetracker.webhooks.dispatcher import Deliverer

pytestmark = pytest.mark.integration
ADMIN = Stamp(at=T0, user_id=1, request_id="hooks", is_admin=True)


def _entry(store: TimeTracking, number: int) -> Entry:
    project = store.load(Project, "project", 1)
    start = T0 + timedelta(hours=number)
    values = {"start_time": start, "end_time": start + timedelta(hours=1)}
    return Entry.create(number, 1, project, None, values, "api", ADMIN)


def test_entries_after_a_new_subscription_in_the_same_batch_are_delivered(
    store: TimeTracking,
) -> None:
    build_catalogue(store, projects=2, clients=1, users=2)
    log = EventLog(store)
    before = log.head()
    store.save(_entry(store, 1))  # before any subscription: never delivered
    hook = Webhook.create(
        1, {"url": "https://hooks.example.com/in", "events": ["time_entry.created"]}, "s", ADMIN
    )
    store.save(hook)
    store.save(_entry(store, 2), _entry(store, 3))

    prepared = Deliverer(log, resource_data).prepare(before, 100, {})

    assert list(prepared.subscriptions) == [1]
    delivered = [d for d in prepared.deliveries if d.event_type == "time_entry.created"]
    assert [d.webhook_id for d in delivered] == [1, 1]
    assert prepared.last == log.head()


def test_while_no_subscription_sends_entries_are_read_past(store: TimeTracking) -> None:
    build_catalogue(store, projects=2, clients=1, users=2)
    log = EventLog(store)
    before = log.head()
    store.save(_entry(store, 1), _entry(store, 2))

    prepared = Deliverer(log, resource_data).prepare(before, 100, {})

    assert prepared.deliveries == [] and prepared.subscriptions == {}
    assert prepared.last == log.head()
