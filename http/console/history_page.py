"""/admin/history: one resource's history as a per-field diff, and the change feed in pages.

Both are read from the event store through `EventLog` (as `/api/v1/.../history` and
`/api/v1/events` are), with an admin's view: every kind of resource, every user's events.
Plain GET forms and links, no script: `?kind=project&id=5` looks a resource up, `?after=N`
(and `limit`, 1-200, default 25) pages the feed with its cursor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from timetracker.domain.kinds import KINDS as RESOURCE_KINDS
from timetracker.domain.values import aggregate_id
from timetracker.eventlog.documents import rfc3339
from timetracker.eventlog.reader import EVENT_TYPES, Identity, Logged, Page, Version
from timetracker.http.console.rendering import page
from timetracker.http.keys import event_log_key
from timetracker.http.threads import in_thread

routes = web.RouteTableDef()
_LABELS = {"api_token": "API token", "timer": "Timer (by user id)"}
# Every kind of the registry, so a new one is listed without touching this page.
KINDS = {
    kind.name: _LABELS.get(kind.name, kind.name.replace("_", " ").capitalize())
    for kind in RESOURCE_KINDS
}
FEED_PAGE = 25
MAX_FEED_PAGE = 200
TOPICS = [t.topic for t in EVENT_TYPES.values()]


def _plain(value: Any) -> Any:
    """A value as the API's JSON shows it: RFC 3339 UTC times, decimals as numbers."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def shown(value: Any) -> str:
    """A value in a table cell: JSON for structures, "" for nothing."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _who(user_id: int | None, username: str | None, token_prefix: str | None) -> str:
    name = username or ("operator" if user_id is None else f"user {user_id}")
    return f"{name} (token {token_prefix}…)" if token_prefix else name


def _version_row(version: Version) -> dict[str, Any]:
    logged, actor = version.logged, version.actor
    return {
        "version": logged.version,
        "event": logged.type.name,
        "at": rfc3339(logged.at),
        "position": logged.position,
        "who": _who(actor.user_id, actor.username, actor.token_prefix),
        "changes": [
            {"field": name, "from": shown(change["from"]), "to": shown(change["to"])}
            for name, change in sorted(version.changes.items())
        ],
    }


def _everything(logged: Logged, identity: Identity) -> bool:
    return True  # an admin sees every event


def _feed(request: web.Request, after: int, limit: int) -> tuple[Page, int]:
    log = request.config_dict[event_log_key]
    return log.page(after, limit, TOPICS, _everything), log.head()


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() and len(text) < 12 else None


async def _lookup(request: web.Request, kind: str, number: int | None) -> dict[str, Any]:
    """The lookup's part of the page: rows, or a message saying why there are none."""
    if kind not in KINDS or number is None:
        return {"error": "Choose a kind of resource and give its id (a whole number)."}
    read = request.config_dict[event_log_key].current_history
    _, versions = await in_thread(read, aggregate_id(kind, number))
    if not versions:
        return {"error": f"{KINDS[kind]} {number} has no history: there is no such resource."}
    return {
        "error": None,
        "versions": [_version_row(v) for v in versions],
        "deleted": versions[-1].logged.type.name.endswith("Deleted"),
    }


@routes.get("/history", name="history")
async def show_history(request: web.Request) -> web.Response:
    kind = request.query.get("kind", "project")
    number = _int(request.query.get("id"))
    lookup: dict[str, Any] | None = None
    if "id" in request.query:
        lookup = await _lookup(request, kind, number)
    after = _int(request.query.get("after")) or 0
    limit = min(MAX_FEED_PAGE, max(1, _int(request.query.get("limit")) or FEED_PAGE))
    feed, head = await in_thread(_feed, request, after, limit)
    events = [
        {
            "position": r.logged.position,
            "event": r.logged.type.name,
            "resource": KINDS.get(r.identity.kind, r.identity.kind),
            "kind": r.identity.kind,
            "resource_id": r.identity.number,
            "at": rfc3339(r.logged.at),
            "who": _who(r.actor.user_id, r.actor.username, r.actor.token_prefix),
            "data": ", ".join(f"{k}: {shown(v)}" for k, v in sorted(r.logged.data().items())),
        }
        for r in feed.records
    ]
    return page(
        request,
        "history.html",
        {
            "kinds": KINDS,
            "kind": kind,
            "number": "" if number is None else number,
            "lookup": lookup,
            "events": events,
            "after": after,
            "limit": limit,
            "next_cursor": feed.next_cursor,
            "has_more": feed.has_more,
            "head": head,
        },
    )
