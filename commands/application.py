"""TimeTracking: the one application the HTTP layer and the CLI send commands to."""

from __future__ import annotations

import time
from collections.abc import Mapping

import psycopg
from eventsourcing.persistence import PersistenceError

from timetracker.commands.accounts import AccountCommands
from timetracker.commands.catalogue import CatalogueCommands
from timetracker.commands.entries import EntryCommands
from timetracker.commands.webhooks import WebhookCommands

STARTUP_ATTEMPTS = 3


class TimeTracking(AccountCommands, CatalogueCommands, EntryCommands, WebhookCommands):
    """Every command of the service, on one event store."""


def open_time_tracking(env: Mapping[str, str]) -> TimeTracking:
    """Connect to the event store, creating its tables on first use.

    Several processes starting at once may race to create the tables; the loser's
    CREATE fails, and a retry finds them there.
    """
    for attempt in range(STARTUP_ATTEMPTS):
        try:
            return TimeTracking(env)
        except (PersistenceError, psycopg.Error):
            if attempt == STARTUP_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")
