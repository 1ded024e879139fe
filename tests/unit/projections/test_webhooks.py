"""The webhooks read model: each event as row changes, never the secret, no database."""

from __future__ import annotations

from tests.unit.domain.stamps import T0, stamp
from tests.unit.projections.events import USER, events_of
from timetracker.domain.values import aggregate_id
from timetracker.domain.webhook import Webhook
from timetracker.projections.rows import Insert, Update
from timetracker.projections.webhooks import WebhooksProjection

HOOK = aggregate_id("webhook", 4)
SECRET = "whsec_c2VjcmV0IHNlY3JldA=="


def _webhook() -> Webhook:
    return Webhook.create(4, {"url": "https://h.example/x", "events": ["*"]}, SECRET, stamp())


def test_a_created_webhook_is_one_row_without_its_secret() -> None:
    [change] = WebhooksProjection().changes(events_of(_webhook())[0])

    assert change == Insert(
        "webhooks",
        {
            "id": 4,
            "aggregate_id": HOOK,
            "owner_id": USER,
            "url": "https://h.example/x",
            "events": ["*"],
            "description": None,
            "active": True,
            "disabled_reason": None,
            "deleted": False,
            "created_at": T0,
            "updated_at": T0,
            "version": 1,
        },
    )
    assert SECRET not in repr(change)


def test_changes_rotation_disabling_and_deletion_update_the_row() -> None:
    webhook = _webhook()
    webhook.update({"events": ["task.completed"], "description": "d"}, stamp(1))
    webhook.rotate_secret("whsec_bmV3", stamp(2))
    webhook.disable("failing", stamp(3))
    webhook.delete(stamp(4))
    projection = WebhooksProjection()
    changes = [c for e in events_of(webhook)[1:] for c in projection.changes(e)]

    assert [c.values for c in changes if isinstance(c, Update)] == [
        {"events": ["task.completed"], "description": "d", "updated_at": stamp(1).at, "version": 2},
        {"updated_at": stamp(2).at, "version": 3},
        {"active": False, "disabled_reason": "failing", "updated_at": stamp(3).at, "version": 4},
        {"active": False, "deleted": True, "updated_at": stamp(4).at, "version": 5},
    ]
    assert "whsec_bmV3" not in repr(changes)
