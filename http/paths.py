"""Where the API lives: `/api/v1`, declared once.

Route modules declare their paths without the prefix; `app.py` mounts them as one sub-app at
`API_PREFIX`. Anything that builds a URL for a response (`Location`, `history_url`, links)
goes through `api_path`.
"""

from __future__ import annotations

from timetracker.domain.kinds import kind_named

API_PREFIX = "/api/v1"


def api_path(path: str) -> str:
    """The public URL of an API path, such as `api_path("/clients/5")` -> `/api/v1/clients/5`."""
    return f"{API_PREFIX}{path}"


def history_url(kind: str, number: int) -> str:
    """Where a resource's history is, such as `/api/v1/time-entries/5/history` for the
    `time_entry` 5 (its collection comes from the registry of kinds)."""
    return api_path(f"/{kind_named(kind).collection}/{number}/history")
