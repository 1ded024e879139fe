"""Bad input on every write and read of projects and clients: always a 4xx with the error
body, never a 5xx, and never an event."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents
from tests.api.helpers import created, error_body

HUGE_NUMBER = b"1" + b"0" * 100_000
DEEP_ARRAY = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
MILLION = "x" * 1_000_000


@dataclass(frozen=True)
class Bad:
    """One bad request body and the `errors` key it must be reported under."""

    label: str
    body: bytes
    field: str


def raw(label: str, body: bytes, field: str = "_body") -> Bad:
    return Bad(label, body, field)


def values(label: str, data: Any, field: str) -> Bad:
    return Bad(label, json.dumps(data).encode(), field)


def any_body() -> list[Bad]:
    """Bodies that are no JSON object at all."""
    return [
        raw("malformed JSON", b'{"name": '),
        raw("trailing garbage", b'{"name": "a"} x'),
        raw("single quotes", b"{'name': 'a'}"),
        raw("invalid UTF-8", b'{"name": "\xff\xfe"}'),
        raw("empty body", b""),
        raw("whitespace body", b" \n\t "),
        raw("JSON array", b'[{"name": "a"}]'),
        raw("empty JSON array", b"[]"),
        raw("JSON string", b'"name"'),
        raw("JSON number", b"42"),
        raw("JSON null", b"null"),
        raw("JSON true", b"true"),
        raw("NaN literal", b'{"name": "a", "x": NaN}'),
        raw("Infinity literal", b'{"name": "a", "x": Infinity}'),
        raw("-Infinity literal", b'{"name": "a", "x": -Infinity}'),
        raw("depth 10,000 arrays", b'{"name": ' + DEEP_ARRAY + b"}"),
        raw("depth 10,000 objects", b'{"name": ' + DEEP_OBJECT + b"}"),
        raw("10^5-digit number", b'{"name": ' + HUGE_NUMBER + b"}"),
        raw("1e400", b'{"name": 1e400}'),
    ]


def name_values() -> list[Bad]:
    """Bad values of `name`, which both resources have."""
    return [
        values("name: number", {"name": 5}, "name"),
        values("name: boolean", {"name": True}, "name"),
        values("name: list", {"name": ["a"]}, "name"),
        values("name: object", {"name": {"first": "a"}}, "name"),
        values("name: null", {"name": None}, "name"),
        values("name: empty", {"name": ""}, "name"),
        values("name: blank", {"name": "   "}, "name"),
        values("name: 201 characters", {"name": "n" * 201}, "name"),
        values("name: 1,000,000 characters", {"name": MILLION}, "name"),
        values("name: NUL", {"name": "a\u0000b"}, "name"),
    ]


def text_values(text: str) -> list[Bad]:
    """Bad values of an optional free-text field."""
    return [
        values(f"{text}: 1,000,000 characters", {"name": "a", text: MILLION}, text),
        values(f"{text}: NUL", {"name": "a", text: "\u0000"}, text),
        values(f"{text}: number", {"name": "a", text: 12}, text),
        values(f"{text}: boolean", {"name": "a", text: False}, text),
    ]


def amount_values(amount: str) -> list[Bad]:
    """Bad values of an optional amount (a rate or hours): a JSON number >= 0."""
    name = amount.encode()
    return [
        values(f"{amount}: numeric string", {"name": "a", amount: "75"}, amount),
        values(f"{amount}: text", {"name": "a", amount: "abc"}, amount),
        values(f"{amount}: boolean", {"name": "a", amount: True}, amount),
        values(f"{amount}: list", {"name": "a", amount: [1]}, amount),
        values(f"{amount}: negative", {"name": "a", amount: -1}, amount),
        values(f"{amount}: slightly negative", {"name": "a", amount: -0.01}, amount),
        values(f"{amount}: above 10^9", {"name": "a", amount: 10**9 + 1}, amount),
        values(f"{amount}: 10^30", {"name": "a", amount: 10**30}, amount),
        raw(f"{amount}: NaN", b'{"name": "a", "%s": NaN}' % name),
        raw(f"{amount}: Infinity", b'{"name": "a", "%s": Infinity}' % name),
        raw(f"{amount}: 10^5 digits", b'{"name": "a", "%s": %s}' % (name, HUGE_NUMBER)),
    ]


def read_only_values() -> list[Bad]:
    """Fields a caller may not send: unknown ones, and those the service sets."""
    when = "2024-01-01T00:00:00Z"
    return [
        values("unknown field", {"name": "a", "colour": "red"}, "colour"),
        values("read-only id", {"name": "a", "id": 7}, "id"),
        values("read-only created_at", {"name": "a", "created_at": when}, "created_at"),
        values("read-only updated_at", {"name": "a", "updated_at": when}, "updated_at"),
        values("read-only version", {"name": "a", "version": 1}, "version"),
        values("user_id", {"name": "a", "user_id": 1}, "user_id"),
    ]


PROJECT_FIELDS = [
    *name_values(),
    *text_values("description"),
    *amount_values("hourly_rate"),
    *amount_values("estimated_hours"),
    *read_only_values(),
    values("billable: string true", {"name": "a", "billable": "true"}, "billable"),
    values("billable: 1", {"name": "a", "billable": 1}, "billable"),
    values("billable: null", {"name": "a", "billable": None}, "billable"),
    values("client_id: numeric string", {"name": "a", "client_id": "1"}, "client_id"),
    values("client_id: fraction", {"name": "a", "client_id": 1.5}, "client_id"),
    values("client_id: 1.0", {"name": "a", "client_id": 1.0}, "client_id"),
    values("client_id: boolean", {"name": "a", "client_id": True}, "client_id"),
    values("client_id: zero", {"name": "a", "client_id": 0}, "client_id"),
    values("client_id: negative", {"name": "a", "client_id": -1}, "client_id"),
    values("client_id: above 2^31", {"name": "a", "client_id": 2**31}, "client_id"),
    values("client_id: 2^64", {"name": "a", "client_id": 2**64}, "client_id"),
    values("client_id: unknown", {"name": "a", "client_id": 12}, "client_id"),
    values("status: unknown", {"name": "a", "status": "done"}, "status"),
    values("status: number", {"name": "a", "status": 1}, "status"),
    values("read-only archived_at", {"name": "a", "archived_at": None}, "archived_at"),
    values("read-only client", {"name": "a", "client": "Acme"}, "client"),
]
CLIENT_FIELDS = [
    *name_values(),
    *text_values("address"),
    *text_values("email"),
    *amount_values("default_hourly_rate"),
    *read_only_values(),
    values("phone: list", {"name": "a", "phone": ["1"]}, "phone"),
    values("company: NUL", {"name": "a", "company": "\u0000"}, "company"),
    values("contact_person: boolean", {"name": "a", "contact_person": False}, "contact_person"),
]
ON_CREATE = {
    "projects": [
        values("no name", {"description": "x"}, "name"),
        values("empty object", {}, "name"),
        values("status archived on create", {"name": "a", "status": "archived"}, "status"),
    ],
    "clients": [
        values("no name", {"email": "a@b.c"}, "name"),
        values("empty object", {}, "name"),
        values("status on create", {"name": "a", "status": "archived"}, "status"),
    ],
}
ON_UPDATE = {
    "projects": [values("status: deleted", {"status": "deleted"}, "status")],
    "clients": [values("status: on_hold", {"status": "on_hold"}, "status")],
}
FIELDS = {"projects": PROJECT_FIELDS, "clients": CLIENT_FIELDS}
BAD_IDS = [
    "abc",
    "0",
    "-1",
    "1.5",
    "1e3",
    "0x1",
    "%20",
    "%201",
    "%2B1",
    "1_0",
    "%D9%A1",  # ARABIC-INDIC DIGIT ONE
    str(2**31),
    str(10**30),
    "9" * 5000,
]
BAD_PAGES = [
    ("page", "0"),
    ("page", "-1"),
    ("page", "abc"),
    ("page", "1.5"),
    ("page", ""),
    ("page", "1_0"),
    ("page", "%2B2"),
    ("page", str(10**30)),
    ("page", "9" * 5000),
    ("per_page", "0"),
    ("per_page", "-5"),
    ("per_page", "abc"),
    ("per_page", "2.5"),
    ("per_page", ""),
    ("per_page", "1_0"),
]


def _with_json(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": "application/json"}


async def _seed(api: TestClient, admin: ApiUser) -> None:
    """Client 1 and project 1, both at version 1."""
    await created(api, "/api/v1/clients", {"name": "Seed"}, admin.headers)
    await created(api, "/api/v1/projects", {"name": "Seed", "client_id": 1}, admin.headers)


async def _unchanged(api: TestClient, admin: ApiUser, collection: str) -> None:
    listed = await api.get(f"/api/v1/{collection}", headers=admin.headers)
    body = await listed.json()
    assert body["pagination"]["total"] == 1
    assert [(item["id"], item["name"], item["version"]) for item in body[collection]] == [
        (1, "Seed", 1)
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/projects"),
        ("PUT", "/api/v1/projects/1"),
        ("PATCH", "/api/v1/projects/1"),
        ("POST", "/api/v1/clients"),
        ("PUT", "/api/v1/clients/1"),
        ("PATCH", "/api/v1/clients/1"),
    ],
)
async def test_every_bad_body_is_a_400_naming_the_field_and_writes_nothing(
    api: TestClient, admin: ApiUser, count_events: CountEvents, method: str, path: str
) -> None:
    await _seed(api, admin)
    collection = path.split("/")[3]
    extra = ON_CREATE[collection] if method == "POST" else ON_UPDATE[collection]
    before = await count_events()

    for bad in [*any_body(), *FIELDS[collection], *extra]:
        response = await api.request(
            method, path, data=io.BytesIO(bad.body), headers=_with_json(admin.headers)
        )

        body = await error_body(response, 400, "validation_error")
        assert bad.field in body["errors"], (bad.label, body)
        assert all(
            isinstance(problems, list) and problems and all(isinstance(p, str) for p in problems)
            for problems in body["errors"].values()
        ), body
        assert await count_events() == before, bad.label

    await _unchanged(api, admin, collection)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/projects"),
        ("PUT", "/api/v1/projects/1"),
        ("PATCH", "/api/v1/projects/1"),
        ("POST", "/api/v1/clients"),
        ("PUT", "/api/v1/clients/1"),
        ("PATCH", "/api/v1/clients/1"),
    ],
)
async def test_a_body_over_1_mib_is_413_and_writes_nothing(
    api: TestClient, admin: ApiUser, count_events: CountEvents, method: str, path: str
) -> None:
    await _seed(api, admin)
    before = await count_events()
    too_large = json.dumps({"name": "a", "description": "x" * (1024 * 1024)}).encode()

    response = await api.request(
        method, path, data=io.BytesIO(too_large), headers=_with_json(admin.headers)
    )

    await error_body(response, 413, "payload_too_large")
    assert await count_events() == before
    await _unchanged(api, admin, path.split("/")[3])


@pytest.mark.parametrize("collection", ["projects", "clients"])
async def test_a_bad_id_in_the_path_is_a_400_on_every_method_and_writes_nothing(
    api: TestClient, admin: ApiUser, count_events: CountEvents, collection: str
) -> None:
    await _seed(api, admin)
    id_field = f"{collection[:-1]}_id"
    before = await count_events()

    for bad_id in BAD_IDS:
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            body = {"name": "Changed"} if method in ("PUT", "PATCH") else None
            response = await api.request(
                method, f"/api/v1/{collection}/{bad_id}", json=body, headers=admin.headers
            )

            errors = (await error_body(response, 400, "validation_error"))["errors"]
            assert list(errors) == [id_field], (method, bad_id, errors)
    assert await count_events() == before
    await _unchanged(api, admin, collection)


@pytest.mark.parametrize("collection", ["projects", "clients", "users"])
async def test_bad_pagination_values_are_400_naming_the_parameter(
    api: TestClient, admin: ApiUser, collection: str
) -> None:
    for parameter, value in BAD_PAGES:
        response = await api.get(f"/api/v1/{collection}?{parameter}={value}", headers=admin.headers)

        errors = (await error_body(response, 400, "validation_error"))["errors"]
        assert list(errors) == [parameter], (parameter, value, errors)


BAD_FILTERS = [
    ("projects", "status=deleted", "status"),
    ("projects", "status=", "status"),
    ("projects", "status=ACTIVE", "status"),
    ("projects", "client_id=abc", "client_id"),
    ("projects", "client_id=0", "client_id"),
    ("projects", "client_id=-3", "client_id"),
    ("projects", f"client_id={2**31}", "client_id"),
    ("projects", "client_id=1_0", "client_id"),
    ("projects", "client_id=%201", "client_id"),
    ("clients", "status=on_hold", "status"),
    ("clients", "status=", "status"),
    ("clients", "status=Archived", "status"),
]


async def test_bad_list_filters_are_400_naming_the_filter(api: TestClient, admin: ApiUser) -> None:
    for collection, query, parameter in BAD_FILTERS:
        response = await api.get(f"/api/v1/{collection}?{query}", headers=admin.headers)

        errors = (await error_body(response, 400, "validation_error"))["errors"]
        assert list(errors) == [parameter], (collection, query, errors)
