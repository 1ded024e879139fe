"""Query strings loaded once per schema: the same answers as loading each time."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request
from marshmallow import Schema, ValidationError, fields, validate

from timetracker.http.middlewares.validation import QUERY_CACHE_LENGTH, _LoadedQueries


class PageQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    tag = fields.String()


def test_a_query_loads_as_the_schema_does_and_each_caller_gets_its_own_dict() -> None:
    queries, schema = _LoadedQueries(size=2), PageQuery()
    first = queries.load(schema, make_mocked_request("GET", "/x?page=2&tag=a&page=3"))
    assert first == schema.load({"page": "3", "tag": "a"}) == {"page": 3, "tag": "a"}
    first["page"] = 99  # a handler's change stays its own
    again = queries.load(schema, make_mocked_request("GET", "/x?page=2&tag=a&page=3"))
    assert again == {"page": 3, "tag": "a"} and again is not first
    assert queries.load(schema, make_mocked_request("GET", "/x")) == {"page": 1}


def test_a_bad_query_fails_every_time_and_the_oldest_strings_go() -> None:
    queries, schema = _LoadedQueries(size=2), PageQuery()
    for _ in range(2):
        with pytest.raises(ValidationError):
            queries.load(schema, make_mocked_request("GET", "/x?page=0"))
    for query in ("page=1", "page=2", "page=3"):
        queries.load(schema, make_mocked_request("GET", f"/x?{query}"))
    assert [key[1] for key in queries._loaded] == ["page=2", "page=3"]
    long = "tag=" + "a" * QUERY_CACHE_LENGTH
    assert queries.load(schema, make_mocked_request("GET", f"/x?{long}"))["tag"].startswith("a")
    assert [key[1] for key in queries._loaded] == ["page=2", "page=3"]
