"""Events for read-model unit tests, made by the domain's own methods (no store)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from eventsourcing.domain import Aggregate

from tests.unit.domain.stamps import T0, stamp
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project

USER = 7  # the stamps' actor


def events_of(aggregate: Aggregate) -> list[Any]:
    """The aggregate's new events (taken off it)."""
    return list(aggregate.collect_events())


def project(number: int = 5, name: str = "Website") -> Project:
    made = Project.create(number, {"name": name}, stamp())
    made.collect_events()
    return made


def entry(number: int = 1, hours_ago: int = 3, hours: int = 1, **values: Any) -> Entry:
    """An entry of USER on project 5, ended (a start `hours_ago` before T0)."""
    start = T0 - timedelta(hours=hours_ago)
    return Entry.create(
        number,
        USER,
        project(),
        None,
        {"start_time": start, "end_time": start + timedelta(hours=hours), **values},
        "api",
        stamp(),
    )
