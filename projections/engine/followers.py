"""Log followers that are not read models (a webhook dispatcher...): declared once, here.

A log follower is a `LogFollower` (`runner.py`): it keeps its own position (a row of
`projection_tracking`, `tracking.py`, or wherever it records its work, in the same
transaction), and applies each batch of the log with that position atomically. The
projection service runs every follower listed by `log_followers()` beside the read models,
wherever it runs them: the serving process's threads, its child process (`ops/
projections_process.py`) and `timetracker projections run`; one runner per follower leads
across processes (`leadership.py`).

Adding one: write the `LogFollower` subclass, and add its factory to `log_followers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.application import Application

from timetracker.projections.engine.leadership import Leadership
from timetracker.projections.engine.runner import LogFollower

# (event store, PostgreSQL conninfo, the service's leadership) -> the follower's runner
FollowerFactory = Callable[[Application[Any], str, Leadership], LogFollower]


def log_followers() -> list[FollowerFactory]:
    """Every log follower the projection service runs beside the read models."""
    return []
