"""Answers as of a past moment (`?as_of=`): which store position that is, and resources then.

A moment stands for a store position: the end of the longest stretch of the log recorded
by then (the time-travel read model's clock). Single resources are their streams folded
up to that position; reports sum the entry versions valid at it. Each such answer names
the position in `X-Event-Position` and in its body, and never changes afterwards.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from eventsourcing.domain import Aggregate

from timetracker.domain.client import Client
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.task import Task
from timetracker.domain.values import aggregate_id
from timetracker.eventlog.documents import rfc3339
from timetracker.http.errors import ApiError, validation_error
from timetracker.http.keys import (
    event_log_key,
    freshness_key,
    settings_key,
    time_travel_view_key,
)
from timetracker.http.writes import POSITION_HEADER, etag, execute
from timetracker.projections.time_travel import TimeTravelProjection


async def position_at(request: web.Request, moment: datetime) -> int:
    """The store position `moment` stands for; 400 for a moment in the future."""
    if moment > datetime.now(UTC):
        raise validation_error({"as_of": ["Must not be in the future."]})
    view = request.config_dict[time_travel_view_key]
    position, latest = await view.position_at(moment)
    if latest is not None and latest > moment:
        return position
    # Nothing the read model has seen was recorded after `moment`, so events it has not
    # applied yet may still belong before it: let it catch up with the store first.
    freshness = request.config_dict[freshness_key]
    head = await freshness.head()
    timeout = request.config_dict[settings_key].read_your_writes_timeout
    if not await freshness.wait_for([TimeTravelProjection.name], head, timeout):
        raise ApiError(
            503,
            "Service unavailable",
            "The time-travel read model is catching up; try again shortly.",
            "read_model_unavailable",
            headers={"Retry-After": "1"},
        )
    position, _ = await view.position_at(moment)
    return position


def as_of_json(moment: datetime, position: int) -> dict[str, Any]:
    """The `as_of` block of an answer: the moment asked for and its store position."""
    return {"time": rfc3339(moment), "position": position}


def answered_at(error: ApiError, position: int) -> ApiError:
    """An error about the past (such as 404: it did not exist then) names its position too."""
    error.headers[POSITION_HEADER] = str(position)
    return error


def as_of_headers(version: int | None, position: int) -> dict[str, str]:
    """ETag (the version then, if any) and the position the answer reflects."""
    headers = {POSITION_HEADER: str(position)}
    if version is not None:
        headers["ETag"] = etag(version)
    return headers


async def past(request: web.Request, kind: str, number: int, position: int) -> Any:
    """The aggregate behind a public id as it was at `position` (None if it did not exist)."""
    state_at = functools.partial(request.config_dict[event_log_key].state_at, upto=position)
    aggregate: Aggregate | None = await execute(request, state_at, aggregate_id(kind, number))
    return aggregate


def entry_row(entry: Entry) -> dict[str, Any]:
    """A time-entries read-model row for an Entry aggregate."""
    return {
        "id": entry.number,
        "user_id": entry.user_id,
        **entry.current(),
        "source": entry.source,
        "created_at": entry.created_on,
        "updated_at": entry.modified_on,
        "version": entry.version,
    }


def project_row(project: Project, client: Client | None) -> dict[str, Any]:
    """A projects read-model row (with its client's name) for a Project aggregate."""
    return {
        "id": project.number,
        **project.current(),
        "client": None if client is None else client.name,
        "created_at": project.created_on,
        "updated_at": project.modified_on,
        "archived_at": project.archived_at,
        "version": project.version,
    }


def task_row(task: Task) -> dict[str, Any]:
    """A tasks read-model row for a Task aggregate."""
    return {
        "id": task.number,
        "project_id": task.project_id,
        **task.current(),
        "created_at": task.created_on,
        "updated_at": task.modified_on,
        "version": task.version,
    }


def client_row(client: Client) -> dict[str, Any]:
    """A clients read-model row for a Client aggregate."""
    return {
        "id": client.number,
        **client.current(),
        "created_at": client.created_on,
        "updated_at": client.modified_on,
        "version": client.version,
    }
