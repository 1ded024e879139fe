"""The change feed over HTTP: store order, cursors, who sees what, nothing missed under load."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser
from tests.api.helpers import created, error_body
from tests.api.timekit import ENTRIES, EVERYTHING, TASKS, TIMER, new_entry, new_project
from timetracker.http.settings import Settings

EVENTS = "/api/v1/events"


async def _page(api: TestClient, user: ApiUser, query: str = "") -> dict[str, Any]:
    response = await api.get(f"{EVENTS}?{query}", headers=user.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    assert response.headers["X-Event-Position"] == str(body["next_cursor"])
    return body


async def _everything(api: TestClient, user: ApiUser, query: str = "") -> list[dict[str, Any]]:
    """Every event `user` may see, paging with the cursor."""
    events: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = await _page(api, user, f"after={cursor}&{query}")
        events += page["events"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return events


def _short(events: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(e["event"], e["resource"], e["resource_id"]) for e in events]


async def _stored_positions(settings: Settings) -> list[int]:
    """Every event's position except the uniqueness claims on names, from the table itself."""
    async with await psycopg.AsyncConnection.connect(settings.conninfo) as conn:
        cursor = await conn.execute(
            "SELECT notification_id FROM timetracking_events"
            " WHERE topic NOT LIKE 'timetracker.domain.name_claim:%' ORDER BY notification_id"
        )
        return [int(row[0]) for row in await cursor.fetchall()]


async def _story(api: TestClient, admin: ApiUser, make_user: MakeUser) -> dict[str, Any]:
    """A client, a project, two users' entries, alice's running timer, a deletion, a task."""
    client = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    project = await new_project(api, admin, "Web", client_id=client["id"])
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    first = await new_entry(api, alice, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    bobs = await new_entry(api, bob, project, "2024-01-15T09:00:00Z", "2024-01-15T11:00:00Z")
    started = await api.post(f"{TIMER}/start", json={"project_id": project}, headers=alice.headers)
    assert started.status == 201, await started.text()
    timer = (await started.json())["timer"]
    assert (await api.delete(f"{ENTRIES}/{first['id']}", headers=alice.headers)).status == 200
    task = await created(api, TASKS, {"project_id": project, "name": "Design"}, admin.headers)
    return {
        "client": client["id"],
        "project": project,
        "alice": alice,
        "bob": bob,
        "first": first["id"],
        "bobs": bobs["id"],
        "timer": timer["id"],
        "task": task["id"],
    }


async def test_a_normal_user_sees_their_own_entries_and_timer_and_the_catalogue(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    s = await _story(api, admin, make_user)
    alice: ApiUser = s["alice"]

    page = await _page(api, alice)

    assert page["has_more"] is False
    assert _short(page["events"]) == [
        ("ClientCreated", "client", s["client"]),
        ("ProjectCreated", "project", s["project"]),
        ("EntryCreated", "time_entry", s["first"]),
        ("EntryCreated", "time_entry", s["timer"]),
        ("TimerCreated", "timer", alice.id),
        ("TimerStarted", "timer", alice.id),
        ("EntryDeleted", "time_entry", s["first"]),
        ("TaskCreated", "task", s["task"]),
    ]
    positions = [e["position"] for e in page["events"]]
    assert positions == sorted(set(positions))
    assert page["next_cursor"] == positions[-1]
    created_event = page["events"][2]
    assert created_event["version"] == 1
    assert created_event["actor"] == {
        "user_id": alice.id,
        "username": "alice",
        "token_prefix": alice.token[:8],
    }
    assert created_event["data"] == {
        "user_id": alice.id,
        "source": "api",
        "fields": {
            "project_id": s["project"],
            "task_id": None,
            "start_time": "2024-01-15T09:00:00Z",
            "end_time": "2024-01-15T10:00:00Z",
            "notes": None,
            "tags": None,
            "billable": True,
        },
    }
    assert page["events"][5]["data"] == {"entry_id": s["timer"]}
    assert page["events"][6]["data"] == {}
    assert page["events"][6]["version"] == 2
    bobs = _short((await _page(api, s["bob"]))["events"])
    assert bobs == [
        ("ClientCreated", "client", s["client"]),
        ("ProjectCreated", "project", s["project"]),
        ("EntryCreated", "time_entry", s["bobs"]),
        ("TaskCreated", "task", s["task"]),
    ]
    reader = await make_user("reader", ["read:projects"])
    assert _short((await _page(api, reader))["events"]) == [
        ("ProjectCreated", "project", s["project"])
    ]


async def test_an_auditor_sees_every_event_but_never_name_claims_or_token_hashes(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    s = await _story(api, admin, make_user)

    events = await _everything(api, admin, "limit=1000")

    assert [e["position"] for e in events] == await _stored_positions(settings)
    kinds = {e["resource"] for e in events}
    assert kinds == {"user", "api_token", "client", "project", "time_entry", "timer", "task"}
    issued = [e for e in events if e["event"] == "ApiTokenIssued"]
    assert [e["data"]["user_id"] for e in issued] == [admin.id, s["alice"].id, s["bob"].id]
    for event in issued:
        assert set(event["data"]) == {"user_id", "name", "prefix", "scopes", "expires_at"}
        assert event["actor"] == {"user_id": None, "username": None, "token_prefix": None}
    alices = next(e for e in issued if e["data"]["user_id"] == s["alice"].id)
    assert alices["data"]["prefix"] == s["alice"].token[:8]
    assert alices["data"]["scopes"] == ["read:*", "write:*"]
    registered = [(e["resource_id"], e["data"]) for e in events if e["event"] == "UserRegistered"]
    assert registered[1] == (
        s["alice"].id,
        {"username": "alice", "email": None, "full_name": None, "role": "user"},
    )
    # an admin user without read:audit sees everyone's entries, but not accounts
    boss = await make_user("boss", ["read:*"], admin=True)
    seen = {e["resource"] for e in await _everything(api, boss)}
    assert seen == {"client", "project", "time_entry", "timer", "task"}


async def test_paging_with_the_cursor_gives_each_event_once_in_order(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    s = await _story(api, admin, make_user)
    alice: ApiUser = s["alice"]
    whole = (await _page(api, alice))["events"]

    first = await _page(api, alice, "limit=3")
    second = await _page(api, alice, f"limit=3&after={first['next_cursor']}")
    third = await _page(api, alice, f"limit=3&after={second['next_cursor']}")
    empty = await _page(api, alice, f"limit=3&after={third['next_cursor']}")

    assert (first["has_more"], second["has_more"], third["has_more"]) == (True, True, False)
    assert first["events"] + second["events"] + third["events"] == whole
    assert first["next_cursor"] == whole[2]["position"]
    assert second["next_cursor"] == whole[5]["position"]
    assert empty == {"events": [], "next_cursor": third["next_cursor"], "has_more": False}
    assert await _everything(api, alice, "limit=1") == whole


async def test_type_and_resource_filters_narrow_the_feed(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    s = await _story(api, admin, make_user)
    alice: ApiUser = s["alice"]

    entries = await _page(api, alice, "resource=time_entry")
    deletions = await _page(api, alice, "type=EntryDeleted")
    both = await _page(api, alice, "type=EntryDeleted,TaskCreated&resource=task,time_entry")
    timers = await _page(api, alice, "resource=timer&type=TimerStarted,TimerStopped")

    assert _short(entries["events"]) == [
        ("EntryCreated", "time_entry", s["first"]),
        ("EntryCreated", "time_entry", s["timer"]),
        ("EntryDeleted", "time_entry", s["first"]),
    ]
    assert _short(deletions["events"]) == [("EntryDeleted", "time_entry", s["first"])]
    assert _short(both["events"]) == [
        ("EntryDeleted", "time_entry", s["first"]),
        ("TaskCreated", "task", s["task"]),
    ]
    assert _short(timers["events"]) == [("TimerStarted", "timer", alice.id)]


async def test_the_feed_refuses_what_it_cannot_answer(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    alice = await make_user("alice", EVERYTHING)
    writer = await make_user("writer", ["write:*"])
    no_audit = await make_user("auditor", ["read:audit", "read:*"])  # not an admin user

    for query, field in [
        ("type=Bogus", "type"),
        ("type=NameClaimClaimed", "type"),
        ("resource=name_claim", "resource"),
        ("type=", "type"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("after=-1", "after"),
        ("after=x", "after"),
        ("after=999999", "after"),
        ("type=ProjectCreated&resource=task", "type"),
    ]:
        response = await api.get(f"{EVENTS}?{query}", headers=alice.headers)
        body = await error_body(response, 400, "validation_error")
        assert set(body["errors"]) == {field}, (query, body)
        assert "X-Event-Position" in response.headers
    for user, query, scope in [
        (alice, "resource=user", "read:audit"),
        (alice, "type=ApiTokenIssued", "read:audit"),
        (no_audit, "resource=api_token", "read:audit"),
        (writer, "", "read:time_entries"),
    ]:
        response = await api.get(f"{EVENTS}?{query}", headers=user.headers)
        body = await error_body(response, 403, "forbidden")
        assert body["required_scope"] == scope
    await error_body(await api.get(EVENTS), 401, "unauthorized")


async def test_a_reader_paging_with_the_cursor_misses_nothing_while_writers_are_busy(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    project = await new_project(api, admin)
    writers = [await make_user(f"writer{n}", EVERYTHING) for n in range(4)]
    shared = await new_entry(
        api, writers[0], project, "2024-03-01T09:00:00Z", "2024-03-01T10:00:00Z"
    )
    finished = asyncio.Event()
    seen: list[int] = []
    pages = 0

    async def write(user: ApiUser, count: int) -> None:
        for n in range(count):
            day = f"2024-02-{n % 28 + 1:02d}"
            entry = await new_entry(api, user, project, f"{day}T09:00:00Z", f"{day}T10:00:00Z")
            if n % 3 == 0:
                response = await api.delete(f"{ENTRIES}/{entry['id']}", headers=user.headers)
                assert response.status == 200

    async def edit_shared(user: ApiUser, count: int) -> None:
        # two editors of one entry race for its next version: the loser retries, and the
        # position its failed append burned is a gap in the log that readers must skip
        for n in range(count):
            response = await api.patch(
                f"{ENTRIES}/{shared['id']}",
                json={"notes": f"{user.username} {n}"},
                headers=user.headers,
            )
            assert response.status == 200, await response.text()

    async def read() -> None:
        nonlocal pages
        cursor = 0
        while True:
            done = finished.is_set()  # before reading: this page may still have more
            page = await _page(api, admin, f"after={cursor}&limit=7")
            pages += 1
            seen.extend(e["position"] for e in page["events"])
            assert page["next_cursor"] >= cursor
            cursor = page["next_cursor"]
            if done and not page["has_more"]:
                return
            if not page["has_more"]:
                await asyncio.sleep(0.002)

    reader = asyncio.create_task(read())
    await asyncio.gather(
        *(write(user, 12) for user in writers),
        edit_shared(writers[0], 10),
        edit_shared(admin, 10),
    )
    finished.set()
    await asyncio.wait_for(reader, 30)

    assert seen == await _stored_positions(settings)
    assert pages > 10  # the reader really followed the writers, page by page
