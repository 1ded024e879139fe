"""Value objects shared by the aggregates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

_ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://timetracker.example/aggregates")


def aggregate_id(kind: str, number: int) -> UUID:
    """The aggregate id behind a public integer id of one resource type."""
    return uuid5(_ID_NAMESPACE, f"{kind}/{number}")


@dataclass(frozen=True)
class Stamp:
    """Who made a change, when, and in which request: recorded on every event."""

    at: datetime
    user_id: int | None
    token_id: int | None = None
    token_prefix: str | None = None
    request_id: str = ""
    is_admin: bool = False

    def event_fields(self) -> dict[str, Any]:
        """The keyword arguments every event method takes."""
        return {
            "timestamp": self.at,
            "actor": {
                "user_id": self.user_id,
                "token_id": self.token_id,
                "token_prefix": self.token_prefix,
            },
            "request_id": self.request_id,
        }


def changes_between(current: Mapping[str, Any], proposed: Mapping[str, Any]) -> dict[str, Any]:
    """`{field: {"from": old, "to": new}}` for each proposed value that differs."""
    return {
        name: {"from": current[name], "to": value}
        for name, value in proposed.items()
        if current[name] != value
    }
