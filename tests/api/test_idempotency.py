"""Idempotency-Key on every POST: replays write nothing, a changed body is 422, concurrent
duplicates write once, and keys are per user and last 24 hours."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from aiohttp.test_utils import TestClient
from eventsourcing.domain import Aggregate

from tests.api.conftest import ApiUser, CountEvents, MakeUser
from tests.api.helpers import error_body
from tests.api.timekit import (
    ENTRIES,
    EVERYTHING,
    TASKS,
    TIMER,
    get_json,
    listed_entries,
    new_project,
)
from timetracker.commands.key_claims import ClaimLostError, KeyClaim, current_claim
from timetracker.domain.project import Project
from timetracker.domain.values import Stamp
from timetracker.http.idempotency_sweep import (
    idempotency_sweep_ctx,
    sweep_expired,
    sweep_forever,
)
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.http.settings import Settings

ENTRY = {
    "project_id": 1,
    "start_time": "2024-01-15T09:00:00Z",
    "end_time": "2024-01-15T10:00:00Z",
}


def _keyed(user: ApiUser, key: str) -> dict[str, str]:
    return {**user.headers, "Idempotency-Key": key}


async def _same_response(first: Any, second: Any) -> None:
    assert second.status == first.status
    assert await second.read() == await first.read()
    for header in ("Location", "ETag"):
        assert second.headers.get(header) == first.headers.get(header), header
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (ENTRIES, ENTRY),
        (TASKS, {"project_id": 1, "name": "Write tests", "priority": 4}),
        (f"{TIMER}/start", {"project_id": 1, "notes": "go"}),
        ("/api/v1/projects", {"name": "Second"}),
        ("/api/v1/clients", {"name": "Acme"}),
    ],
)
async def test_the_same_key_and_body_replay_the_first_response_without_writing(
    api: TestClient,
    admin: ApiUser,
    make_user: MakeUser,
    count_events: CountEvents,
    path: str,
    body: dict[str, Any],
) -> None:
    await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    by_admin = path.startswith(("/api/v1/projects", "/api/v1/clients"))
    user = admin if by_admin else alice
    before = await count_events()

    first = await api.post(path, json=body, headers=_keyed(user, "key-1"))
    written = await count_events()
    replays = [await api.post(path, json=body, headers=_keyed(user, "key-1")) for _ in range(3)]

    assert first.status == 201, await first.text()
    assert written > before
    for replay in replays:
        await _same_response(first, replay)
    assert await count_events() == written
    # the resource exists once
    location = first.headers["Location"]
    assert (await api.get(location, headers=user.headers)).status == 200
    collection = location.rsplit("/", 1)[0]
    listed = await get_json(api, f"{collection}?include_active=true", user)
    assert listed["pagination"]["total"] == (2 if path.endswith("projects") else 1)


async def test_a_used_key_with_another_body_path_or_query_is_422_and_writes_nothing(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    first = await api.post(ENTRIES, json=ENTRY, headers=_keyed(alice, "k"))
    assert first.status == 201
    before = await count_events()

    other_body = await api.post(
        ENTRIES, json={**ENTRY, "notes": "different"}, headers=_keyed(alice, "k")
    )
    other_path = await api.post(
        f"{TIMER}/start", json={"project_id": 1}, headers=_keyed(alice, "k")
    )
    other_query = await api.post(f"{ENTRIES}?dry=1", json=ENTRY, headers=_keyed(alice, "k"))

    for response in (other_body, other_path, other_query):
        body = await error_body(response, 422, "idempotency_key_reused")
        assert body["error"] == "Idempotency key reused"
    assert await count_events() == before
    assert len(await listed_entries(api, alice, "include_active=true")) == 1
    assert (await get_json(api, f"{TIMER}/status", alice))["active"] is False
    # the original body still replays
    await _same_response(first, await api.post(ENTRIES, json=ENTRY, headers=_keyed(alice, "k")))


async def test_keys_belong_to_their_user(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    before = await count_events()

    mine = await api.post(ENTRIES, json=ENTRY, headers=_keyed(alice, "shared"))
    theirs = await api.post(ENTRIES, json=ENTRY, headers=_keyed(bob, "shared"))

    assert (mine.status, theirs.status) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers
    assert (await mine.json())["time_entry"]["user_id"] == alice.id
    assert (await theirs.json())["time_entry"]["user_id"] == bob.id
    assert await count_events() == before + 2


@pytest.mark.parametrize(
    ("path", "body", "events"),
    [
        (ENTRIES, ENTRY, 1),
        (f"{TIMER}/start", {"project_id": 1}, 3),
        (TASKS, {"project_id": 1, "name": "Once"}, 1),
        ("/api/v1/projects", {"name": "P"}, 1),
    ],
)
async def test_concurrent_duplicates_write_once_and_all_get_the_first_response(
    api: TestClient,
    admin: ApiUser,
    make_user: MakeUser,
    count_events: CountEvents,
    path: str,
    body: dict[str, Any],
    events: int,
) -> None:
    await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    before = await count_events()

    responses = await asyncio.gather(
        *[api.post(path, json=body, headers=_keyed(alice, "together")) for _ in range(10)]
    )

    assert [r.status for r in responses] == [201] * 10
    bodies = [await r.read() for r in responses]
    assert len(set(bodies)) == 1
    originals = [r for r in responses if "Idempotent-Replayed" not in r.headers]
    assert len(originals) == 1
    assert await count_events() == before + events
    collection = {TASKS: TASKS, "/api/v1/projects": "/api/v1/projects"}.get(path, ENTRIES)
    listed = await get_json(api, f"{collection}?include_active=true", alice)
    assert listed["pagination"]["total"] == (2 if collection.endswith("projects") else 1)


async def test_stopping_a_timer_with_a_key_is_replayed_not_repeated(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    started = await api.post(f"{TIMER}/start", json={"project_id": 1}, headers=alice.headers)
    assert started.status == 201
    first = await api.post(f"{TIMER}/stop", headers=_keyed(alice, "stop-1"))
    assert first.status == 200, await first.text()
    second_timer = await api.post(f"{TIMER}/start", json={"project_id": 1}, headers=alice.headers)
    assert second_timer.status == 201
    before = await count_events()

    replay = await api.post(f"{TIMER}/stop", headers=_keyed(alice, "stop-1"))

    await _same_response(first, replay)
    assert await count_events() == before
    status = await get_json(api, f"{TIMER}/status", alice)
    assert status["timer"]["id"] == (await second_timer.json())["timer"]["id"]


async def test_a_refused_request_is_replayed_as_refused_and_never_writes(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    bad = {**ENTRY, "end_time": ENTRY["start_time"]}
    before = await count_events()

    first = await api.post(ENTRIES, json=bad, headers=_keyed(alice, "bad"))
    replay = await api.post(ENTRIES, json=bad, headers=_keyed(alice, "bad"))

    assert list((await error_body(first, 400, "validation_error"))["errors"]) == ["end_time"]
    await _same_response(first, replay)
    stopped = await api.post(f"{TIMER}/stop", headers=_keyed(alice, "nothing-runs"))
    await error_body(stopped, 409, "no_active_timer")
    assert await count_events() == before
    # the refusal is what the key means from now on: a later timer does not change it
    assert (
        await api.post(f"{TIMER}/start", json={"project_id": 1}, headers=alice.headers)
    ).status == 201
    again = await api.post(f"{TIMER}/stop", headers=_keyed(alice, "nothing-runs"))
    await _same_response(stopped, again)
    assert (await get_json(api, f"{TIMER}/status", alice))["active"] is True


async def test_a_key_older_than_24_hours_is_free_again(
    api: TestClient,
    admin: ApiUser,
    make_user: MakeUser,
    count_events: CountEvents,
    settings: Settings,
) -> None:
    await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    first = await api.post(ENTRIES, json=ENTRY, headers=_keyed(alice, "old"))
    assert first.status == 201
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '23 hours 59 minutes'"
        )
    still = await api.post(ENTRIES, json=ENTRY, headers=_keyed(alice, "old"))
    await _same_response(first, still)
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    before = await count_events()

    fresh = await api.post(ENTRIES, json=ENTRY, headers=_keyed(alice, "old"))

    assert fresh.status == 201, await fresh.text()
    assert "Idempotent-Replayed" not in fresh.headers
    assert (await fresh.json())["time_entry"]["id"] != (await first.json())["time_entry"]["id"]
    assert await count_events() == before + 1


async def test_a_malformed_key_is_400_and_writes_nothing(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    before = await count_events()

    for key in ("k" * 256, "has space", "tab\tkey", ""):
        response = await api.post(ENTRIES, json=ENTRY, headers=_keyed(alice, key))
        errors = (await error_body(response, 400, "validation_error"))["errors"]
        assert list(errors) == ["Idempotency-Key"], (key, errors)
    assert await count_events() == before
    assert await listed_entries(api, alice) == []
    # without a token the key does not matter: 401 first
    await error_body(
        await api.post(ENTRIES, json=ENTRY, headers={"Idempotency-Key": "anon"}),
        401,
        "unauthorized",
    )


def _body_and_hash(path: str, body: dict[str, Any]) -> tuple[bytes, str]:
    """A request body as sent, and the hash the service keeps of it with its key."""
    raw = json.dumps(body).encode()
    return raw, hashlib.sha256(f"POST {path}\n".encode() + raw).hexdigest()


async def _leave_claim(
    settings: Settings, user_id: int, key: str, request_hash: str, age: str, applied: bool
) -> None:
    """What a request killed before answering leaves behind: a claim with no answer."""
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, claim, applied, created_at)"
            " VALUES (%s, %s, %s, gen_random_uuid(), %s, now() - %s::interval)",
            (user_id, key, request_hash, applied, age),
        )


async def _user_id(api: TestClient, user: ApiUser) -> int:
    return int((await get_json(api, "/api/v1/users/me", user))["user"]["id"])


@pytest.fixture
def short_wait_for_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second request waits 0.2 s (not 10) for the first one's answer."""
    monkeypatch.setattr("timetracker.http.middlewares.idempotency.WAIT_FOR_FIRST_SECONDS", 0.2)


async def _crashed_request(
    api: TestClient,
    admin: ApiUser,
    make_user: MakeUser,
    settings: Settings,
    key: str,
    age: str,
    applied: bool,
) -> tuple[ApiUser, bytes, dict[str, str]]:
    """Alice, and a claim of `key` for her entry request left `age` ago by a server that
    died; returns her, the request's body and its headers, to retry it."""
    await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    raw, request_hash = _body_and_hash(ENTRIES, ENTRY)
    user_id = await _user_id(api, alice)
    await _leave_claim(settings, user_id, key, request_hash, age, applied=applied)
    return alice, raw, {**_keyed(alice, key), "Content-Type": "application/json"}


@pytest.mark.usefixtures("short_wait_for_first")
async def test_a_claim_whose_request_died_before_writing_is_taken_over_once_stale(
    api: TestClient,
    admin: ApiUser,
    make_user: MakeUser,
    count_events: CountEvents,
    settings: Settings,
) -> None:
    alice, raw, headers = await _crashed_request(
        api, admin, make_user, settings, "died", "10 seconds", applied=False
    )
    before = await count_events()

    # Still fresh: it could be a request still running.
    fresh = await api.post(ENTRIES, data=raw, headers=headers)
    await error_body(fresh, 409, "idempotency_in_progress")
    assert await count_events() == before

    # Stale, and its write never committed: the retry takes the key over and writes once.
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '31 s'")
    retried = await api.post(ENTRIES, data=raw, headers=headers)
    assert retried.status == 201, await retried.text()
    assert await count_events() == before + 1
    again = await api.post(ENTRIES, data=raw, headers=headers)
    await _same_response(retried, again)
    assert await count_events() == before + 1
    assert len(await listed_entries(api, alice)) == 1


@pytest.mark.usefixtures("short_wait_for_first")
async def test_a_claim_whose_write_committed_is_never_run_again(
    api: TestClient,
    admin: ApiUser,
    make_user: MakeUser,
    count_events: CountEvents,
    settings: Settings,
) -> None:
    # The server died after the events committed and before the answer was kept.
    alice, raw, headers = await _crashed_request(
        api, admin, make_user, settings, "applied", "1 hour", applied=True
    )
    before = await count_events()

    retried = await api.post(ENTRIES, data=raw, headers=headers)

    body = await error_body(retried, 409, "idempotency_answer_lost")
    assert "look the result up" in body["message"]
    assert await count_events() == before
    assert await listed_entries(api, alice) == []


async def test_a_write_keeps_its_claim_applied_and_a_lost_claim_writes_nothing(
    api: TestClient,
    admin: ApiUser,
    make_user: MakeUser,
    count_events: CountEvents,
    settings: Settings,
) -> None:
    await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    first = await api.post(ENTRIES, json=ENTRY, headers=_keyed(alice, "mine"))
    assert first.status == 201
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        cursor = await conn.execute("SELECT applied FROM idempotency_keys WHERE key = 'mine'")
        assert await cursor.fetchone() == (True,)
    # A write whose claim another request took over (the token in the row is not its own).
    store = api.app[time_tracking_key]
    stamp = Stamp(at=datetime.now(UTC), user_id=1, request_id="lost-claim", is_admin=True)

    def rename() -> list[Aggregate]:
        project = store.load(Project, "project", 1)
        project.update({"name": f"Renamed {uuid4().hex[:6]}"}, stamp)
        return [project]

    before = await count_events()
    token = current_claim.set(KeyClaim(await _user_id(api, alice), "mine", uuid4()))
    try:
        with pytest.raises(ClaimLostError):
            await asyncio.to_thread(store.write, rename)
    finally:
        current_claim.reset(token)
    assert await count_events() == before
    await asyncio.to_thread(store.write, rename)  # without a claim: written
    assert await count_events() == before + 1


async def test_expired_keys_are_swept_in_batches_and_fresh_ones_kept(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    for n in range(5):
        assert (await api.post(ENTRIES, json=ENTRY, headers=_keyed(alice, f"old-{n}"))).status
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    fresh = await api.post(ENTRIES, json=ENTRY, headers=_keyed(alice, "fresh"))
    assert fresh.status == 201

    pool = api.app[read_pool_key]
    assert await sweep_expired(pool, batch=2) == 5  # three batches: 2, 2, 1
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        keys = await (await conn.execute("SELECT key FROM idempotency_keys")).fetchall()
    assert keys == [("fresh",)]
    await _same_response(fresh, await api.post(ENTRIES, json=ENTRY, headers=_keyed(alice, "fresh")))


async def test_the_background_sweep_runs_without_any_request(
    api: TestClient, admin: ApiUser, settings: Settings
) -> None:
    async with await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at)"
            " SELECT 1, 'k' || n, 'h', now() - interval '2 days' FROM generate_series(1, 50) n"
        )
    sweeping = asyncio.create_task(sweep_forever(api.app[read_pool_key], every=0.05))
    try:
        async with await psycopg.AsyncConnection.connect(
            settings.conninfo, autocommit=True
        ) as conn:
            for _ in range(100):
                row = await (await conn.execute("SELECT count(*) FROM idempotency_keys")).fetchone()
                if row is not None and row[0] == 0:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the sweep left expired keys")
    finally:
        sweeping.cancel()
    assert idempotency_sweep_ctx in api.app.cleanup_ctx  # the app runs it by itself
