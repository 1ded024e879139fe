"""`X-Event-Position`: which store position an answer reflects.

Writes report the position they wrote (`writes.settle`); answers as of a past moment,
history and the change feed report the position they read up to, and the summary the
lower of the projects' position and the one its rollups were summed at. Other reads report the
position of the read models they answer from, read before answering (the answer shows at
least that much); `reads(...)` names them. Everything else reports the store's head.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

H = TypeVar("H", bound=Callable[..., Any])


def reads(*read_models: str) -> Callable[[H], H]:
    """Mark a handler as answering from `read_models`; none: it sets the position itself."""

    def mark(handler: H) -> H:
        handler.__read_models__ = read_models  # type: ignore[attr-defined]
        return handler

    return mark
