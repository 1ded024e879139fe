"""The finishing touches of the OpenAPI document that the decorators cannot give.

Applied once the document is built (`app.py`), to every operation alike, so that a route
added later gets them too:
- `info.description`: how the API works as a whole (tokens, errors, paging, concurrency);
- an `operationId` per operation (the handler's name) and a description for every
  operation, parameter and response;
- 415 on every operation that takes a JSON body;
- `PUT` described as what it is: a partial update, the same as `PATCH`;
- `links` from each create (201) to every operation that takes the new resource's id, and
  from each answered operation on a resource to the others on it, so a client or a tool
  (schemathesis' stateful phase) can chain create -> get -> update -> delete.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web

HTTP_METHODS = ("get", "put", "post", "patch", "delete")

DESCRIPTION = """\
Time tracking with an event-sourced store: every write is recorded as events, lists and
reports come from read models that follow them.

**Authentication**: send an API token as `Authorization: Bearer <token>` (or `Token <token>`)
or `X-API-Key: <token>`. Each operation names the scope it needs; `admin:all` grants all.
`/info` and `/health` need none.

**Errors** have one body: `{"error", "message", "error_code"}`, plus `errors` (per field)
for a 400. Bodies are JSON (`Content-Type: application/json`; anything else is 415).

**Lists** take `page` and `per_page` (at most 100) and answer `pagination`.

**Concurrency**: every single resource carries its version as an `ETag`; send it back as
`If-Match` on `PUT`/`PATCH`/`DELETE` to write only if nobody changed it since (412
otherwise). Any `POST` may carry an `Idempotency-Key`: the same key and body again replay the
first answer (header `Idempotent-Replayed: true`) without writing twice.

**Read your writes**: a write answers once the read models show it; every response carries
`X-Event-Position`, the store position its answer reflects. `as_of` reads a resource or a
report as recorded at a past moment.

**Rate limits** per token: `X-RateLimit-*` and `RateLimit-*` headers, 429 with `Retry-After`.

`PUT` and `PATCH` are the same partial update: only the fields sent change.
"""

PARAMETERS = {
    "page": "Page number, from 1; a page past the end is an empty list.",
    "per_page": "Items per page, from 1; values above 100 are taken as 100 (default 50).",
    "status": "Only the items with this status.",
    "client_id": "Only the items of this client.",
    "project_id": "Only the items of this project.",
    "task_id": "Only the items of this task.",
    "user_id": "Only the items of this user (admin users only; default: the caller's own).",
    "start_date": "From this moment: a date (`2024-01-15`, from its 00:00:00Z) or an RFC 3339 "
    "date-time.",
    "end_date": "Up to this moment: a date (`2024-01-31`, through the whole day) or an RFC 3339 "
    "date-time.",
    "as_of": "Answer as recorded at this past moment (RFC 3339): a moment of recording, not "
    "the time an entry covers.",
    "billable": "Only billable (`true`) or non-billable (`false`) entries.",
    "include_active": "Also list running entries (timers), which have no end yet.",
    "after": "Events after this store position (`next_cursor` of the previous page; 0 from "
    "the start).",
    "limit": "At most this many events.",
    "type": "Only events of this type (e.g. `EntryEdited`).",
    "resource": "Only events of this kind of resource (e.g. `time_entry`).",
    "name": "The read model's name.",
    "filename": "An archive's file name in the backup directory, as listed.",
    "Idempotency-Key": "Send the same key and body again within 24 h to get the first "
    "response back without a second write; a different body with a used key gets 422.",
}

RESPONSES = {
    "200": "Done; the resource or the list",
    "201": "Created; `Location` names the new resource",
    "202": "Accepted: a background job, at `Location`",
    "400": "Invalid input: see `errors` (path, query, headers or body)",
    "401": "No or invalid token",
    "403": "The token lacks the scope, or the user the role",
    "404": "No such resource",
    "409": "Conflicts with the resource's state (see `error_code`)",
    "412": "`If-Match` names a stale version: nothing written",
    "413": "The body is too large",
    "415": "The body is not JSON",
    "422": "`Idempotency-Key` reused with a different body",
    "429": "Rate limit exceeded; see `Retry-After`",
    "503": "A dependency is unavailable, or maintenance; see `Retry-After`",
}

UNSUPPORTED_MEDIA_TYPE = {
    "description": RESPONSES["415"],
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}


def finish_document(app: web.Application, document: dict[str, Any]) -> None:
    """Add what the decorators leave out (see the module's docstring), in place."""
    document["info"].setdefault("description", DESCRIPTION)
    names = _handler_names(app)
    taken: set[str] = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            _identify(operation, names.get((method, path)), method, path, taken)
            _describe(operation, method)
            for parameter in operation.get("parameters", []):
                parameter.setdefault("description", _parameter_description(parameter))
            for status, response in operation.get("responses", {}).items():
                if not response.get("description"):
                    response["description"] = RESPONSES.get(status, f"HTTP {status}")
            if "requestBody" in operation:
                operation["responses"].setdefault("415", copy.deepcopy(UNSUPPORTED_MEDIA_TYPE))
    _link_creates(document)


def _handler_names(app: web.Application) -> dict[tuple[str, str], str]:
    """(method, path) -> handler name, for the app and its sub-apps (whose paths carry
    their prefix once mounted)."""
    names = {}
    for resource in app.router.resources():
        mounted = getattr(resource, "_app", None)
        if isinstance(mounted, web.Application):
            names.update(_handler_names(mounted))
            continue
        for route in resource:
            handler = getattr(route.handler, "__name__", None)
            if handler:
                names[(route.method.lower(), resource.canonical)] = handler
    return names


def _identify(
    operation: dict[str, Any], handler: str | None, method: str, path: str, taken: set[str]
) -> None:
    if "operationId" in operation:
        taken.add(operation["operationId"])
        return
    base = handler or re.sub(r"\W+", "_", f"{method}{path}").strip("_")
    name = base if base not in taken else f"{base}_{method}"
    taken.add(name)
    operation["operationId"] = name


def _describe(operation: dict[str, Any], method: str) -> None:
    summary = operation.get("summary", "")
    parts = [operation["description"]] if operation.get("description") else []
    if not parts and summary:
        parts.append(summary[0].upper() + summary[1:] + ".")
    if method == "put":
        parts.append(
            "A partial update, the same as `PATCH`: only the fields sent change (a client "
            "never clears a field it did not send or does not know of)."
        )
    scope = _needed_scope(operation)
    if scope:
        parts.append(f"Needs the `{scope}` scope.")
    elif not operation.get("security"):
        parts.append("Open to everyone: no token needed.")
    operation["description"] = " ".join(parts) or f"{method.upper()} this resource."


def _needed_scope(operation: dict[str, Any]) -> str | None:
    forbidden = operation.get("responses", {}).get("403", {}).get("description", "")
    found = re.fullmatch(r"Needs (\S+)", forbidden)
    return found.group(1) if found else None


def _parameter_description(parameter: dict[str, Any]) -> str:
    name = parameter["name"]
    if name in PARAMETERS:
        return PARAMETERS[name]
    kind = re.fullmatch(r"(\w+)_id", name)
    if kind:
        noun = {"entry": "time entry"}.get(kind.group(1), kind.group(1).replace("_", " "))
        return (
            f"The {noun}'s id." if parameter["in"] == "path" else f"Only the items of this {noun}."
        )
    return f"The `{name}` {parameter['in']} parameter."


def _link_creates(document: dict[str, Any]) -> None:
    """Links from every create (POST on a collection, 201) to the operations that take the
    created resource's id (`/collection/{id}` and what lies below it)."""
    paths = document["paths"]
    for path, item in paths.items():
        create = item.get("post")
        if create is None or "{" in path or "201" not in create.get("responses", {}):
            continue
        key = _created_key(document, create["responses"]["201"])
        if key is None:
            continue
        links = {}
        for target, target_item in paths.items():
            found = re.fullmatch(re.escape(path) + r"/\{(\w+)\}(/[\w-]+)*", target)
            if found is None or target.count("{") != 1:
                continue
            for method, operation in target_item.items():
                if method in HTTP_METHODS and "operationId" in operation:
                    links[operation["operationId"]] = {
                        "operationId": operation["operationId"],
                        "parameters": {found.group(1): f"$response.body#/{key}/id"},
                        "description": f"The created resource's id as `{found.group(1)}`.",
                    }
        if links:
            create["responses"]["201"]["links"] = links
        _link_items(paths, path)


def _link_items(paths: dict[str, Any], collection: str) -> None:
    """Links from each answered operation on `/collection/{id}` (200) to the others on the
    same id, so that a chain goes on: get -> update -> get -> delete."""
    for path, item in paths.items():
        found = re.fullmatch(re.escape(collection) + r"/\{(\w+)\}", path)
        if found is None:
            continue
        parameter = found.group(1)
        for method, operation in item.items():
            ok = operation.get("responses", {}).get("200") if method in HTTP_METHODS else None
            if ok is None or method == "delete":
                continue
            ok["links"] = {
                other["operationId"]: {
                    "operationId": other["operationId"],
                    "parameters": {parameter: f"$request.path.{parameter}"},
                    "description": f"The same `{parameter}`.",
                }
                for other_method, other in item.items()
                if other_method in HTTP_METHODS
                and other_method != method
                and "operationId" in other
            }


def _created_key(document: dict[str, Any], response: dict[str, Any]) -> str | None:
    """The key under which a 201 body holds the created resource (the one with an `id`)."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    schema = _resolve(document, schema)
    for key, value in schema.get("properties", {}).items():
        if "id" in _resolve(document, value).get("properties", {}):
            return str(key)
    return None


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema
