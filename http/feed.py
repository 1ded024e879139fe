"""/api/v1/events: the change feed, every event after a cursor in store order.

Clients sync by remembering `next_cursor` and asking for what comes after it. Store
positions become visible in order (each append locks the events table), so a client
paging with the cursor never misses an event, also while others write. Each caller sees
what they may read: their own time entries and timer, and the catalogue their scopes
cover; `read:audit` held by an admin user shows everything (users and API tokens too,
never a token's hash). Uniqueness claims on names are bookkeeping and never shown.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web
from aiohttp_apigami import docs, querystring_schema, response_schema

from timetracker.domain.kinds import AUDIT_SCOPE, KINDS
from timetracker.domain.scopes import ANY_TOKEN
from timetracker.eventlog.documents import record_json
from timetracker.eventlog.reader import EVENT_TYPES, Identity, Logged
from timetracker.http.access import caller_of, requires
from timetracker.http.caller import Caller
from timetracker.http.errors import ApiError, validation_error
from timetracker.http.keys import event_log_key, query_key
from timetracker.http.positions import reads
from timetracker.http.responses import json_response
from timetracker.http.schemas.audit import FeedQuery, FeedResponse
from timetracker.http.schemas.common import ErrorResponse
from timetracker.http.writes import POSITION_HEADER, execute

routes = web.RouteTableDef()
# The scope that shows events about each kind of resource (and whose they must be), from the
# registry of kinds.
SCOPE_OF_KIND = {kind.name: kind.feed_scope for kind in KINDS}
OWN_ONLY = frozenset(kind.name for kind in KINDS if kind.own_only)  # a normal user: their own


def sees_everything(caller: Caller) -> bool:
    """An auditor: an admin user with `read:audit`."""
    return caller.is_admin and caller.may("read:audit")


def readable_kinds(caller: Caller) -> set[str]:
    """The kinds of resource a caller may see events about (some of them, or all)."""
    if sees_everything(caller):
        return set(SCOPE_OF_KIND)
    return {
        kind for kind, scope in SCOPE_OF_KIND.items() if scope != AUDIT_SCOPE and caller.may(scope)
    }


def visible(caller: Caller, kinds: frozenset[str], logged: Logged, identity: Identity) -> bool:
    """Whether `caller` may see this event (`kinds`: what `readable_kinds` allows)."""
    if identity.kind not in kinds:
        return False
    if identity.kind in OWN_ONLY and not caller.is_admin:
        return identity.owner == caller.user_id
    return True


def _forbidden(kind: str, caller: Caller) -> ApiError:
    scope = SCOPE_OF_KIND[kind]
    needs = f"'{scope}' scope" + (" and an admin user" if scope == AUDIT_SCOPE else "")
    return ApiError(
        403,
        "Insufficient permissions",
        f"Events about {kind} resources need the {needs}",
        "forbidden",
        extra={"required_scope": scope, "available_scopes": list(caller.scopes)},
    )


def _topics(query: dict[str, Any], caller: Caller) -> list[str]:
    """The topics of the event types asked for that the caller may see."""
    kinds = readable_kinds(caller)
    if not kinds:
        raise _forbidden("time_entry", caller)
    types = [EVENT_TYPES[name] for name in query.get("type", EVENT_TYPES)]
    asked = set(query.get("resource", ()))
    if asked:
        types = [t for t in types if t.kind in asked]
        if not types:
            raise validation_error({"type": ["None of these types is about these resources."]})
    elif "type" not in query:
        types = [t for t in types if t.kind in kinds]
    for kind in sorted(asked or {t.kind for t in types}):
        if kind not in kinds:
            raise _forbidden(kind, caller)
    return [t.topic for t in types]


@routes.get("/events", allow_head=False)
@docs(
    tags=["history"],
    summary="The change feed: events after a cursor, in store order (deletions too)",
    description="Start with `after=0`; then pass the `next_cursor` of each page as `after`. "
    "Positions only grow and no event is ever skipped, also while others write. A page "
    "holds at most `limit` events and may be short or empty when few of the events read "
    "are yours to see: go on while `has_more`. Normal users see their own time entries "
    "and timer and the projects, tasks and clients their read scopes cover; `read:audit` "
    "with an admin user sees every event. `X-Event-Position` is `next_cursor`.",
)
@requires(ANY_TOKEN)
@reads()
@querystring_schema(FeedQuery)
@response_schema(FeedResponse, 200)
@response_schema(ErrorResponse, 400)
async def list_events(request: web.Request) -> web.Response:
    query = request[query_key]
    caller = caller_of(request)
    topics = _topics(query, caller)
    check = functools.partial(visible, caller, frozenset(readable_kinds(caller)))
    log = request.config_dict[event_log_key]
    read = functools.partial(log.page, limit=query["limit"], topics=topics, visible=check)
    page = await execute(request, read, query["after"])
    if not page.records and not page.has_more:
        head = await execute(request, lambda _: log.head(), None)
        if query["after"] > head:
            raise validation_error({"after": [f"Past the end of the log (position {head})."]})
    body = {
        "events": [record_json(r) for r in page.records],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }
    return json_response(body, headers={POSITION_HEADER: str(page.next_cursor)})
