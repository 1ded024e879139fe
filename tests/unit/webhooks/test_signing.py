"""Signatures and the retry schedule."""

from __future__ import annotations

import random
import time

from standardwebhooks.webhooks import Webhook as StandardWebhook

from timetracker.commands.webhooks import new_secret
from timetracker.webhooks.retry import GIVE_UP_SECONDS, gives_up, retry_delay
from timetracker.webhooks.signing import headers


def test_the_standard_webhooks_library_verifies_our_signature() -> None:
    secret = new_secret()
    body = b'{"type":"project.created","data":{"id":1}}'
    sent = headers(secret, "msg_1", int(time.time()), body)
    assert StandardWebhook(secret).verify(body, sent) == {
        "type": "project.created",
        "data": {"id": 1},
    }


def test_retries_back_off_with_jitter_and_stop_after_a_day() -> None:
    rng = random.Random(7)
    delays = [retry_delay(n, rng=rng) for n in range(1, 8)]
    nominal = [5, 30, 120, 600, 3600, 10800, 10800]
    for delay, expected in zip(delays, nominal, strict=True):
        assert expected * 0.8 <= delay <= expected * 1.2
    assert retry_delay(1, scale=0.001, rng=rng) < 0.01
    assert not gives_up(GIVE_UP_SECONDS - 1)
    assert gives_up(GIVE_UP_SECONDS)
    assert gives_up(0.9, scale=0.00001)
