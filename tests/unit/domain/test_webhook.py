"""The Webhook aggregate: who may change it, what it records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from timetracker.domain.errors import InvalidValueError
from timetracker.domain.values import Stamp
from timetracker.domain.webhook import NotYourWebhookError, Webhook, WebhookDeletedError

AT = datetime(2024, 1, 15, tzinfo=UTC)
ALICE = Stamp(at=AT, user_id=1)
BOB = Stamp(at=AT, user_id=2)
ADMIN = Stamp(at=AT, user_id=3, is_admin=True)


def _webhook(**values: object) -> Webhook:
    fields = {"url": "https://hooks.example.com/x", "events": ["*"], **values}
    return Webhook.create(1, fields, "whsec_c2VjcmV0", ALICE)


def test_a_webhook_belongs_to_its_creator() -> None:
    webhook = _webhook(events=["project.created", "project.created", "task.completed"])
    assert (webhook.owner_id, webhook.owner_is_admin, webhook.active) == (1, False, True)
    assert webhook.events == ["project.created", "task.completed"]


@pytest.mark.parametrize(
    "values",
    [{"events": []}, {"events": ["project.exploded"]}, {"events": "project.created"}, {"url": ""}],
)
def test_bad_values_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(InvalidValueError):
        _webhook(**values)


def test_only_the_owner_or_an_admin_changes_it() -> None:
    webhook = _webhook()
    with pytest.raises(NotYourWebhookError):
        webhook.update({"description": "x"}, BOB)
    assert webhook.update({"description": "x"}, ADMIN) == {"description": {"from": None, "to": "x"}}


def test_disabling_records_the_reason_and_enabling_clears_it() -> None:
    webhook = _webhook()
    assert webhook.disable("failing", Stamp(at=AT, user_id=None))
    assert not webhook.disable("again", Stamp(at=AT, user_id=None))
    assert (webhook.active, webhook.disabled_reason) == (False, "failing")
    changes = webhook.update({"active": True}, ALICE)
    assert changes["disabled_reason"] == {"from": "failing", "to": None}
    assert (webhook.active, webhook.disabled_reason) == (True, None)


def test_a_deleted_webhook_is_gone() -> None:
    webhook = _webhook()
    webhook.delete(ALICE)
    with pytest.raises(WebhookDeletedError):
        webhook.rotate_secret("whsec_bmV3", ALICE)
    names = [type(e).__qualname__ for e in webhook.collect_events()]
    assert names == ["Webhook.Created", "Webhook.Deleted"]
