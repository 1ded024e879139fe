"""When a failed delivery is tried again: exponential backoff with jitter, for up to a day."""

from __future__ import annotations

import random

# About 5 s, 30 s, 2 min, 10 min, 1 h, then every 3 h, until 24 h after the first attempt.
SCHEDULE_SECONDS = (5.0, 30.0, 120.0, 600.0, 3600.0)
LATER_SECONDS = 3 * 3600.0
GIVE_UP_SECONDS = 24 * 3600.0
JITTER = 0.2  # each delay is drawn from +-20% of its nominal value


def retry_delay(attempts: int, scale: float = 1.0, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failed attempt (1 = the first one).

    `scale` (setting `WEBHOOKS_RETRY_SCALE`) shrinks the whole schedule, for tests.
    """
    nominal = SCHEDULE_SECONDS[attempts - 1] if attempts <= len(SCHEDULE_SECONDS) else LATER_SECONDS
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return nominal * spread * scale


def gives_up(elapsed_seconds: float, scale: float = 1.0) -> bool:
    """Whether a delivery failing for `elapsed_seconds` since its first attempt is `failed`."""
    return elapsed_seconds >= GIVE_UP_SECONDS * scale
