"""Commands for webhook subscriptions."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable

from eventsourcing.domain import Aggregate

from timetracker.commands.errors import NotFoundError
from timetracker.commands.messages import (
    CreatedWebhook,
    CreateWebhook,
    DeleteWebhook,
    DisableWebhook,
    RotateWebhookSecret,
    UpdateWebhook,
    Written,
)
from timetracker.commands.store import EventStore, check_version
from timetracker.domain.values import Stamp
from timetracker.domain.webhook import NotYourWebhookError, Webhook, WebhookDeletedError

SECRET_BYTES = 24


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class WebhookCommands(EventStore):
    """Create, change, rotate, disable and delete webhook subscriptions."""

    def load_webhook(self, webhook_id: int, stamp: Stamp) -> Webhook:
        """A webhook the actor may see (its owner, or an admin), or NotFoundError."""
        webhook = self.load(Webhook, "webhook", webhook_id)
        try:
            webhook.check_access(stamp)
        except (NotYourWebhookError, WebhookDeletedError):
            raise NotFoundError("webhook", webhook_id) from None
        return webhook

    def create_webhook(self, cmd: CreateWebhook) -> CreatedWebhook:
        """Subscribe the acting user to events; the secret is returned once."""
        number = self.ids.next_id("webhook")
        secret = new_secret()
        position = self.write(lambda: [Webhook.create(number, cmd.values, secret, cmd.stamp)])
        return CreatedWebhook(id=number, version=1, position=position, secret=secret)

    def _change(
        self,
        webhook_id: int,
        stamp: Stamp,
        expected: int | None,
        change: Callable[[Webhook], object],
    ) -> Written:
        versions: list[int] = []

        def decide() -> list[Aggregate]:
            webhook = self.load_webhook(webhook_id, stamp)
            check_version(webhook, expected)
            change(webhook)
            versions.append(webhook.version)
            return [webhook]

        position = self.write(decide)
        return Written(id=webhook_id, version=versions[-1], position=position)

    def update_webhook(self, cmd: UpdateWebhook) -> Written:
        """Change a webhook's url, events, description or `active`."""
        return self._change(
            cmd.webhook_id,
            cmd.stamp,
            cmd.expected_version,
            lambda webhook: webhook.update(cmd.values, cmd.stamp),
        )

    def delete_webhook(self, cmd: DeleteWebhook) -> Written:
        """Delete a webhook: nothing more is sent to it."""
        return self._change(
            cmd.webhook_id, cmd.stamp, cmd.expected_version, lambda w: w.delete(cmd.stamp)
        )

    def rotate_webhook_secret(self, cmd: RotateWebhookSecret) -> CreatedWebhook:
        """A new signing secret, returned once; deliveries from now on are signed with it."""
        secret = new_secret()
        written = self._change(
            cmd.webhook_id, cmd.stamp, None, lambda w: w.rotate_secret(secret, cmd.stamp)
        )
        return CreatedWebhook(
            id=written.id, version=written.version, position=written.position, secret=secret
        )

    def disable_webhook(self, cmd: DisableWebhook) -> int | None:
        """Disable a webhook with a reason (no-op if inactive); the position, if written."""

        def decide() -> list[Aggregate]:
            webhook = self.load(Webhook, "webhook", cmd.webhook_id)
            return [webhook] if webhook.disable(cmd.reason, cmd.stamp) else []

        return self.write(decide)
