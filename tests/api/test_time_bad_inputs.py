"""Bad input to time entries, the timer and tasks: each answered with its 4xx and the error
body (never a 5xx), and none of them writes an event or changes what was there."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents, MakeUser
from tests.api.helpers import error_body
from tests.api.timekit import (
    ENTRIES,
    EVERYTHING,
    SUMMARY,
    TASKS,
    TIMER,
    archive_project,
    get_json,
    listed_entries,
    new_entry,
    new_project,
    new_task,
)

START = "2024-01-15T09:00:00Z"
END = "2024-01-15T10:00:00Z"


@dataclass(frozen=True)
class Bad:
    """One refused request body: the status, error code and `errors` field it must get."""

    label: str
    body: bytes
    status: int = 400
    code: str = "validation_error"
    field: str | None = None


def bad(label: str, values: Any, field: str | None, status: int = 400, code: str = "") -> Bad:
    return Bad(label, json.dumps(values).encode(), status, code or "validation_error", field)


def raw(label: str, body: bytes, field: str = "_body") -> Bad:
    return Bad(label, body, field=field)


@dataclass(frozen=True)
class World:
    """Alice's project, another project with a task, an archived project, her entry, Bob."""

    project: int
    task: int
    other: int
    other_task: int
    archived: int
    alice: ApiUser
    bob: ApiUser
    entry: dict[str, Any]
    bobs_entry: dict[str, Any]


async def _world(api: TestClient, admin: ApiUser, make_user: MakeUser) -> World:
    project = await new_project(api, admin, "Web")
    other = await new_project(api, admin, "Other")
    archived = await new_project(api, admin, "Old")
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    task = await new_task(api, alice, project, "Mine")
    other_task = await new_task(api, alice, other, "Theirs")
    await archive_project(api, admin, archived)
    entry = await new_entry(api, alice, project, START, END, task_id=task["id"], notes="n")
    bobs_entry = await new_entry(api, bob, project, START, END)
    return World(
        project, task["id"], other, other_task["id"], archived, alice, bob, entry, bobs_entry
    )


def _time_values(field: str, base: dict[str, Any]) -> list[Bad]:
    """Bad values of one date-time field."""
    return [
        bad(f"{field}: {text}", {**base, field: text}, field)
        for text in (
            "2024-02-30T09:00:00Z",  # no such day
            "2023-02-29T09:00:00Z",  # not a leap year
            "2024-04-31T09:00:00Z",
            "2024-13-01T09:00:00Z",
            "2024-00-10T09:00:00Z",
            "2024-01-15T24:00:00Z",
            "2024-01-15T23:59:60Z",
            "2024-01-15T09:60:00Z",
            "2024-01-15T09:00:00+25:00",
            "2024-01-15T09:00:00+05:60",  # Python alone would read +06:00
            "2024-01-15T09:00:00-00:99",
            "2024-01-15T09:00:00+24:00",
            "\u0662\u0660\u0662\u0664-01-15T09:00:00Z",  # Arabic-Indic digits
            "2024-01-15T09:00:00+0530",
            "2024-01-15T09:00:00+05:30:00",
            "2024-01-15T09:00:00.1234567Z",
            "2024-01-15T09:00:00z",
            "2024-01-15 09:00:00Z",
            "2024-01-15",
            "15/01/2024 09:00",
            "1899-12-31T23:59:59Z",
            "2201-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "10000-01-01T00:00:00Z",
            "",
            "now",
        )
    ] + [
        bad(f"{field}: {value!r}", {**base, field: value}, field)
        for value in (1705309200, 1705309200.5, True, ["2024-01-15T09:00:00Z"], {"t": 1})
    ]


def _reference_values(w: World, base: dict[str, Any]) -> list[Bad]:
    """Bad `project_id`/`task_id` values, in type and in what they name."""
    cases = []
    for field in ("project_id", "task_id"):
        for value in ("1", 1.0, 1.5, True, 0, -1, 2**31, 2**64, [1], {"id": 1}):
            cases.append(bad(f"{field}: {value!r}", {**base, field: value}, field))
    return [
        *cases,
        bad("project_id: null", {**base, "project_id": None}, "project_id"),
        bad("unknown project", {**base, "project_id": 999}, "project_id"),
        bad("unknown task", {**base, "task_id": 999}, "task_id"),
        bad("a task of another project", {**base, "task_id": w.other_task}, "task_id"),
        bad(
            "the project's task moved with it",
            {**base, "project_id": w.other, "task_id": w.task},
            "task_id",
        ),
        bad("archived project", {**base, "project_id": w.archived}, None, 409, "project_archived"),
    ]


def _field_values(base: dict[str, Any]) -> list[Bad]:
    """Bad notes, tags, billable; numbers as strings; NaN and friends; fields one may not send."""
    when = "2024-01-01T00:00:00Z"

    def literal(label: str, field: str, text: str) -> Bad:
        """`base` plus `"field": <text>`, a literal no JSON encoder writes (NaN, Infinity)."""
        fields = [json.dumps(base)[1:-1], f'"{field}": {text}']
        return raw(label, ("{" + ", ".join(f for f in fields if f) + "}").encode())

    return [
        bad("notes: 10,001 characters", {**base, "notes": "x" * 10_001}, "notes"),
        bad("notes: NUL", {**base, "notes": "a\u0000b"}, "notes"),
        bad("notes: number", {**base, "notes": 5}, "notes"),
        bad("tags: 1,001 characters", {**base, "tags": "t" * 1001}, "tags"),
        bad("tags: numbers", {**base, "tags": [1, 2]}, "tags"),
        bad("tags: number", {**base, "tags": 7}, "tags"),
        bad("tags: NUL", {**base, "tags": ["a\u0000"]}, "tags"),
        bad("billable: string", {**base, "billable": "true"}, "billable"),
        bad("billable: 1", {**base, "billable": 1}, "billable"),
        bad("billable: null", {**base, "billable": None}, "billable"),
        literal("project_id: NaN", "project_id", "NaN"),
        literal("task_id: Infinity", "task_id", "Infinity"),
        literal("task_id: -Infinity", "task_id", "-Infinity"),
        literal("notes: NaN", "notes", "NaN"),
        literal("task_id: 1e400", "task_id", "1e400"),
        raw("malformed JSON", b'{"project_id": '),
        raw("JSON array", b"[]"),
        raw("empty body", b""),
        bad("unknown field", {**base, "duration": 3600}, "duration"),
        bad("read-only id", {**base, "id": 5}, "id"),
        bad("read-only duration_seconds", {**base, "duration_seconds": 60}, "duration_seconds"),
        bad("read-only is_active", {**base, "is_active": False}, "is_active"),
        bad("read-only created_at", {**base, "created_at": when}, "created_at"),
        bad("read-only version", {**base, "version": 1}, "version"),
    ]


def create_cases(w: World) -> list[Bad]:
    base = {"project_id": w.project, "start_time": START, "end_time": END}
    running = {"project_id": w.project, "start_time": START}
    return [
        bad("end before start", {**base, "end_time": "2024-01-15T08:59:59Z"}, "end_time"),
        bad("end equal to start", {**base, "end_time": START}, "end_time"),
        bad(
            "end 1 us before start", {**base, "end_time": "2024-01-15T08:59:59.999999Z"}, "end_time"
        ),
        bad(
            "equal times in two offsets",
            {**base, "end_time": "2024-01-15T14:30:00+05:30"},
            "end_time",
        ),
        bad(
            "end before start once in UTC",
            {**base, "end_time": "2024-01-15T10:00:00+05:30"},
            "end_time",
        ),
        *_time_values("start_time", base),
        *_time_values("end_time", base),
        *_reference_values(w, base),
        bad(
            "archived project, running",
            {**running, "project_id": w.archived},
            None,
            409,
            "project_archived",
        ),
        *_field_values(base),
        bad("user_id of another user", {**base, "user_id": w.bob.id}, "user_id"),
        bad("user_id as a string", {**base, "user_id": str(w.alice.id)}, "user_id"),
        bad("no project_id", {"start_time": START, "end_time": END}, "project_id"),
        bad("no start_time", {"project_id": w.project, "end_time": END}, "start_time"),
        bad("start_time null", {**base, "start_time": None}, "start_time"),
        bad("empty object", {}, "project_id"),
    ]


def edit_cases(w: World) -> list[Bad]:
    return [
        bad("end before start", {"end_time": "2024-01-15T08:00:00Z"}, "end_time"),
        bad("end equal to start", {"end_time": START}, "end_time"),
        bad("start after end", {"start_time": "2024-01-15T11:00:00Z"}, "end_time"),
        bad("start equal to end", {"start_time": END}, "end_time"),
        bad("both swapped", {"start_time": END, "end_time": START}, "end_time"),
        bad("end taken away", {"end_time": None}, "end_time"),
        bad("start_time null", {"start_time": None}, "start_time"),
        *_time_values("start_time", {}),
        *_time_values("end_time", {}),
        *_reference_values(w, {}),
        *_field_values({}),
        bad("user_id", {"user_id": w.bob.id}, "user_id"),
        bad("own user_id", {"user_id": w.alice.id}, "user_id"),
        bad("source", {"source": "timer"}, "source"),
    ]


async def _refused(
    api: TestClient, method: str, path: str, case: Bad, user: ApiUser
) -> dict[str, Any]:
    response = await api.request(
        method,
        path,
        data=case.body,
        headers={**user.headers, "Content-Type": "application/json"},
    )
    body = await error_body(response, case.status, case.code)
    if case.field is not None:
        assert case.field in body.get("errors", {}), (case.label, body)
        assert all(
            isinstance(problems, list) and problems and all(isinstance(p, str) for p in problems)
            for problems in body["errors"].values()
        ), (case.label, body)
    return body


async def test_every_bad_time_entry_creation_is_refused_without_an_event(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    w = await _world(api, admin, make_user)
    before = await count_events()
    cases = create_cases(w)
    assert len(cases) == 124

    for case in cases:
        await _refused(api, "POST", ENTRIES, case, w.alice)
        assert await count_events() == before, case.label

    assert await listed_entries(api, w.alice, "include_active=true") == [w.entry]
    assert (await get_json(api, f"{TIMER}/status", w.alice))["active"] is False


async def test_every_bad_time_entry_edit_is_refused_and_changes_nothing(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    w = await _world(api, admin, make_user)
    path = f"{ENTRIES}/{w.entry['id']}"
    before = await count_events()

    for method in ("PATCH", "PUT"):
        for case in edit_cases(w):
            await _refused(api, method, path, case, w.alice)
            assert await count_events() == before, (method, case.label)

    assert await get_json(api, path, w.alice) == {"time_entry": w.entry}


async def test_bad_entry_ids_and_other_users_entries_are_refused_without_an_event(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    w = await _world(api, admin, make_user)
    before = await count_events()
    change = {"notes": "x"}

    for entry_id, status in [
        ("0", 400),
        ("-1", 400),
        ("abc", 400),
        ("1.0", 400),
        ("1_0", 400),
        (str(2**31), 400),
        ("9" * 40, 400),
        ("999", 404),
        (str(w.bobs_entry["id"]), 404),
    ]:
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            response = await api.request(
                method, f"{ENTRIES}/{entry_id}", json=change, headers=w.alice.headers
            )
            code = "validation_error" if status == 400 else "not_found"
            body = await error_body(response, status, code)
            if status == 400:
                assert list(body["errors"]) == ["entry_id"], (entry_id, body)
    assert await count_events() == before
    assert (await get_json(api, f"{ENTRIES}/{w.bobs_entry['id']}", w.bob))["time_entry"] == (
        w.bobs_entry
    )


async def test_bad_list_and_report_queries_are_400_naming_the_parameter(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    w = await _world(api, admin, make_user)
    dates = [
        ("start_date", "2024-02-30"),
        ("end_date", "2023-02-29"),
        ("start_date", "2024-1-5"),
        ("end_date", "20240115"),
        ("start_date", "2024-01-15T09:00:00%2B25:00"),
        ("end_date", "2024-01-15T25:00:00Z"),
        ("start_date", ""),
        ("end_date", "1800-01-01"),
        ("start_date", "yesterday"),
    ]
    ids = [
        ("project_id", "abc"),
        ("project_id", "0"),
        ("project_id", "1.5"),
        ("project_id", "1_0"),
        ("project_id", "%201"),
        ("project_id", "%2B1"),
        ("project_id", str(2**31)),
        ("user_id", "-1"),
        ("user_id", ""),
        ("user_id", "%D9%A1"),  # ARABIC-INDIC DIGIT ONE
    ]
    list_only = [
        ("billable", "yes"),
        ("billable", ""),
        ("billable", "2"),
        ("include_active", "maybe"),
        ("page", "0"),
        ("page", str(10**30)),
        ("per_page", "-1"),
    ]
    for path, cases in ((ENTRIES, dates + ids + list_only), (SUMMARY, dates + ids)):
        for name, value in cases:
            response = await api.get(f"{path}?{name}={value}", headers=w.alice.headers)
            errors = (await error_body(response, 400, "validation_error"))["errors"]
            assert list(errors) == [name], (path, name, value, errors)
    # an offset in a query string must be percent-encoded; then it is converted to UTC
    encoded = await listed_entries(api, w.alice, "start_date=2024-01-15T14:30:00%2B05:30")
    assert encoded == [w.entry]
    later = await listed_entries(api, w.alice, "start_date=2024-01-15T14:30:01%2B05:30")
    assert later == []


def task_create_cases(w: World) -> list[Bad]:
    base = {"project_id": w.project, "name": "T"}
    return [
        bad("project_id as a string", {**base, "project_id": str(w.project)}, "project_id"),
        bad("project_id: 1.0", {**base, "project_id": 1.0}, "project_id"),
        bad("project_id: true", {**base, "project_id": True}, "project_id"),
        bad("project_id: 0", {**base, "project_id": 0}, "project_id"),
        bad("no project_id", {"name": "T"}, "project_id"),
        bad("unknown project", {**base, "project_id": 999}, "project_id"),
        bad("archived project", {**base, "project_id": w.archived}, None, 409, "project_archived"),
        bad("no name", {"project_id": w.project}, "name"),
        bad("name: empty", {**base, "name": ""}, "name"),
        bad("name: blank", {**base, "name": "   "}, "name"),
        bad("name: 201 characters", {**base, "name": "n" * 201}, "name"),
        bad("name: number", {**base, "name": 5}, "name"),
        bad("name: null", {**base, "name": None}, "name"),
        bad("name: NUL", {**base, "name": "a\u0000"}, "name"),
        bad("description: NUL", {**base, "description": "\u0000"}, "description"),
        bad("description: number", {**base, "description": 1}, "description"),
        bad("status: open", {**base, "status": "open"}, "status"),
        bad("status: number", {**base, "status": 1}, "status"),
        bad("priority: 5", {**base, "priority": 5}, "priority"),
        bad("priority: '1'", {**base, "priority": "1"}, "priority"),
        bad("read-only id", {**base, "id": 3}, "id"),
        bad("unknown field", {**base, "assignee": "bob"}, "assignee"),
        raw("priority: NaN", b'{"project_id": 1, "name": "T", "priority": NaN}'),
        raw("project_id: Infinity", b'{"project_id": Infinity, "name": "T"}'),
    ]


def task_edit_cases(w: World) -> list[Bad]:
    return [
        bad("name: empty", {"name": ""}, "name"),
        bad("name: blank", {"name": "  "}, "name"),
        bad("name: null", {"name": None}, "name"),
        bad("name: 201 characters", {"name": "n" * 201}, "name"),
        bad("status: closed", {"status": "closed"}, "status"),
        bad("status: null", {"status": None}, "status"),
        bad("priority: 0", {"priority": 0}, "priority"),
        bad("priority: null", {"priority": None}, "priority"),
        bad("project_id cannot change", {"project_id": w.other}, "project_id"),
        bad("read-only version", {"version": 2}, "version"),
        raw("malformed JSON", b'{"name": "x"'),
        raw("empty body", b""),
    ]


async def test_every_bad_task_write_is_refused_without_an_event(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    w = await _world(api, admin, make_user)
    path = f"{TASKS}/{w.task}"
    task = (await get_json(api, path, w.alice))["task"]
    before = await count_events()

    for case in task_create_cases(w):
        await _refused(api, "POST", TASKS, case, w.alice)
    for method in ("PUT", "PATCH"):
        for case in task_edit_cases(w):
            await _refused(api, method, path, case, w.alice)
    for task_id, status in (("0", 400), ("x", 400), ("1_0", 400), ("999", 404)):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            response = await api.request(
                method, f"{TASKS}/{task_id}", json={"name": "x"}, headers=w.alice.headers
            )
            await error_body(response, status, "not_found" if status == 404 else "validation_error")

    assert await count_events() == before
    assert (await get_json(api, path, w.alice))["task"] == task
    assert (await get_json(api, TASKS, w.alice))["pagination"]["total"] == 2


async def test_every_bad_timer_start_is_refused_without_an_event(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    w = await _world(api, admin, make_user)
    base = {"project_id": w.project}
    before = await count_events()
    cases = [
        *_reference_values(w, base),
        *_field_values(base),
        bad("start_time given", {**base, "start_time": START}, "start_time"),
        bad("end_time given", {**base, "end_time": END}, "end_time"),
        bad("user_id given", {**base, "user_id": w.bob.id}, "user_id"),
        bad("no project_id", {"notes": "x"}, "project_id"),
    ]

    for case in cases:
        await _refused(api, "POST", f"{TIMER}/start", case, w.alice)

    assert await count_events() == before
    assert (await get_json(api, f"{TIMER}/status", w.alice))["active"] is False
