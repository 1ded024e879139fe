"""First start: an empty store gets an `admin` user and a one-time `admin:all` token."""

from __future__ import annotations

from timetracker.commands.application import TimeTracking
from timetracker.domain.errors import NameTakenError
from timetracker.ops.accounts import issue_token, register_user


def bootstrap_admin(store: TimeTracking) -> str | None:
    """Create the admin user and token when the store is empty; returns the token."""
    if store.recorder.max_notification_id():
        return None
    try:
        register_user(store, "admin", None, "Administrator", admin=True)
    except NameTakenError:  # another process bootstrapped at the same moment
        return None
    return issue_token(store, "admin", ["admin:all"], "bootstrap", None).token
