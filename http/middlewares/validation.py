"""Validates the body, query and path of each request against the handler's schemas.

The schemas are the ones the aiohttp-apigami decorators attach (`@json_schema`,
`@querystring_schema`, `@match_info_schema`), so the OpenAPI document and the
validation never drift apart. Parsing is ours: strict JSON (no NaN, no Infinity),
unknown body fields refused, and every failure answered as a 400 with `errors`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp_apigami.validation import ValidationSchema
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError

from timetracker.http.errors import ApiError, validation_error
from timetracker.http.keys import body_key, path_key, query_key
from timetracker.http.schemas.reports import CommaList

QUERY_CACHE_SIZE = 1024  # query strings kept per process, over every schema
QUERY_CACHE_LENGTH = 256  # longer query strings are loaded every time

_LOCATIONS = {
    "json": body_key,
    "querystring": query_key,
    "query": query_key,
    "match_info": path_key,
}


def _flatten(messages: Any) -> dict[str, list[str]]:
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for field, problems in messages.items():
            if isinstance(problems, dict):
                for inner, inner_problems in _flatten(problems).items():
                    # An item of a list is named by its index: `time_entries[3].end_time`,
                    # and an item that is no object at all as `time_entries[3]`.
                    head, dot, rest = inner.partition(".")
                    if head.isdigit() and rest == "_schema":
                        flat[f"{field}[{head}]"] = inner_problems
                    elif head.isdigit():
                        flat[f"{field}[{head}]{dot}{rest}"] = inner_problems
                    else:
                        flat[f"{field}.{inner}"] = inner_problems
            else:
                flat[str(field)] = [str(p) for p in problems]
        return flat
    return {"_schema": [str(m) for m in messages]}


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


async def _json_body(request: web.Request) -> dict[str, Any]:
    # A body declared as something else (a form, text) is refused as such, not parsed and
    # called malformed JSON. A body without Content-Type is read as JSON.
    declared = request.headers.get(hdrs.CONTENT_TYPE)
    if declared is not None and not _is_json(declared):
        raise ApiError(
            415,
            "Unsupported media type",
            f"This endpoint takes a JSON body (Content-Type: application/json), not {declared}.",
            "unsupported_media_type",
        )
    raw = await request.read()
    if not raw.strip():
        raise validation_error({"_body": ["A JSON object is required."]}, "The body is empty.")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise validation_error({"_body": [f"Malformed JSON: {exc}"]}, "Malformed JSON.") from None
    if not isinstance(data, dict):
        raise validation_error({"_body": ["Must be a JSON object."]})
    return data


async def _raw_values(
    request: web.Request, location: web.RequestKey[dict[str, Any]]
) -> dict[str, Any]:
    if location is body_key:
        return await _json_body(request)
    return dict(request.match_info)


def _query_values(schema: Schema, request: web.Request) -> dict[str, str]:
    """The query's values by name: a list given more than once (`project_id=1&project_id=5`)
    is all of them (`1,5`), any other value the last one given."""
    values: dict[str, str] = {}
    for name in request.query:
        given = request.query.getall(name)
        field = schema.load_fields.get(name)
        values[name] = ",".join(given) if isinstance(field, CommaList) else given[-1]
    return values


class _LoadedQueries:
    """Query strings already loaded, per schema: integrators ask the same lists again and
    again (`?per_page=50&project_id=3`), and loading one costs a list read 4% of its CPU.
    A query schema's result depends on the string alone (no defaults computed when
    loaded, values immutable); each request gets its own copy of the dict. Only loads that
    passed are kept, of strings up to `QUERY_CACHE_LENGTH` characters, the least recently
    used going past `size`."""

    def __init__(self, size: int = QUERY_CACHE_SIZE) -> None:
        self.size = size
        self._loaded: OrderedDict[tuple[int, str], dict[str, Any]] = OrderedDict()

    def load(self, schema: Schema, request: web.Request) -> dict[str, Any]:
        """The query of `request` as `schema` loads it; `ValidationError` if it does not."""
        key = (id(schema), request.query_string)
        loaded = self._loaded.get(key)
        if loaded is None:
            values = _query_values(schema, request)
            loaded = dict(schema.load(values, unknown=EXCLUDE))
            if len(key[1]) > QUERY_CACHE_LENGTH:
                return loaded
            self._loaded[key] = loaded
            if len(self._loaded) > self.size:
                self._loaded.popitem(last=False)
        else:
            self._loaded.move_to_end(key)
        return dict(loaded)


QUERIES = _LoadedQueries()


@web.middleware
async def validation_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Put validated values on the request under `body_key`, `query_key` and `path_key`."""
    schemas: list[ValidationSchema] = getattr(request.match_info.handler, "__schemas__", [])
    for entry in schemas:
        location = _LOCATIONS[entry.location]
        try:
            if location is query_key:
                request[location] = QUERIES.load(entry.schema, request)
                continue
            values = await _raw_values(request, location)
            unknown = RAISE if location is body_key else EXCLUDE
            request[location] = entry.schema.load(values, unknown=unknown)
        except ValidationError as exc:
            raise validation_error(_flatten(exc.messages)) from None
    return await handler(request)
