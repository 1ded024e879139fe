"""Access control over every route of the service (AUTH-1, AUTH-5, SEC-1, SEC-2).

Every route, by {no token, each single scope, read:*, write:*, admin:all}, by {normal
user, admin user}: exactly the documented holders get through, the rest get 401 or 403, and no
request writes an event. The table must name every route the app has, so a new route
cannot go unchecked. Then BOLA on every per-user resource, mass assignment on every write,
and 10,000 random well-formed tokens, none of them accepted.
"""

from __future__ import annotations

import asyncio
import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents, MakeToken, MakeUser
from tests.api.helpers import error_body
from tests.api.test_scopes import ALL_GRANTS
from tests.api.timekit import (
    ENTRIES,
    EVERYTHING,
    TASKS,
    TIMER,
    new_entry,
    new_project,
    new_task,
    stream_version,
)
from timetracker.http.settings import Settings

PUBLIC = "public"
ANY = "*"
ADMIN_BACKUPS = "/api/v1/admin/backups"
ADMIN_RESTORE = "/api/v1/admin/restore"
HOOK = "/api/v1/webhooks/{webhook_id}"


@dataclass(frozen=True)
class Probe:
    """One route, a request to it that writes nothing once let in, and who may pass."""

    method: str
    route: str  # as the router names it
    path: str  # what is requested
    scope: str  # PUBLIC, ANY (every valid token), or the scope the route needs
    passed: int  # the status once let in
    body: Any = None
    admin_only: bool = False
    feed: bool = False  # the change feed: any token that may read something

    def holders(self, admin_user: bool) -> set[str]:
        """The grants the contract lets through, for this kind of user."""
        if self.admin_only:
            return {"admin:all"} if admin_user else set()
        if self.feed:
            kinds = ("projects", "time_entries", "tasks", "clients", "webhooks")
            readers = {f"read:{r}" for r in kinds}
            return readers | {"read:*", "admin:all"} | ({"read:audit"} if admin_user else set())
        if self.scope == ANY:
            return set(ALL_GRANTS)
        action = self.scope.split(":")[0]
        wildcard = {f"{action}:*"} if self.scope != "read:audit" else set()
        return {self.scope, "admin:all"} | wildcard


def _resource(collection: str, key: str, scope: str, body: dict[str, Any]) -> list[Probe]:
    read, write = f"read:{scope}", f"write:{scope}"
    one, route = f"/api/v1/{collection}/99", f"/api/v1/{collection}/{{{key}}}"
    return [
        Probe("GET", f"/api/v1/{collection}", f"/api/v1/{collection}", read, 200),
        Probe("GET", route, one, read, 404),
        Probe("POST", f"/api/v1/{collection}", f"/api/v1/{collection}", write, 400, {}),
        Probe("PUT", route, one, write, 404, body),
        Probe("PATCH", route, one, write, 404, body),
        Probe("DELETE", route, one, write, 404),
        Probe("GET", f"{route}/history", f"{one}/history", read, 404),
    ]


PROBES = [
    Probe("GET", "/api/v1/info", "/api/v1/info", PUBLIC, 200),
    Probe("GET", "/api/v1/health", "/api/v1/health", PUBLIC, 200),
    Probe("GET", "/api/docs", "/api/docs", PUBLIC, 200),
    Probe("GET", "/api/docs/openapi.json", "/api/docs/openapi.json", PUBLIC, 200),
    Probe("GET", "/api/docs/static", "/api/docs/static/swagger-ui.css", PUBLIC, 200),
    *_resource("projects", "project_id", "projects", {"name": "x"}),
    *_resource("clients", "client_id", "clients", {"name": "x"}),
    *_resource("tasks", "task_id", "tasks", {"name": "x"}),
    *_resource("time-entries", "entry_id", "time_entries", {"notes": "x"}),
    *_resource("webhooks", "webhook_id", "webhooks", {"description": "x"}),
    Probe(
        "POST", f"{HOOK}/rotate-secret", "/api/v1/webhooks/99/rotate-secret", "write:webhooks", 404
    ),
    Probe("POST", f"{HOOK}/test", "/api/v1/webhooks/99/test", "write:webhooks", 404),
    Probe("GET", f"{HOOK}/deliveries", "/api/v1/webhooks/99/deliveries", "read:webhooks", 404),
    Probe(
        "POST",
        f"{HOOK}/deliveries/{{delivery_id}}/retry",
        "/api/v1/webhooks/99/deliveries/1/retry",
        "write:webhooks",
        404,
    ),
    Probe(
        "POST",
        f"{HOOK}/replay",
        "/api/v1/webhooks/99/replay",
        "write:webhooks",
        404,
        {"from_position": 1},
    ),
    Probe(
        "POST",
        "/api/v1/time-entries/{entry_id}/restore",
        f"{ENTRIES}/99/restore",
        "write:time_entries",
        404,
    ),
    Probe(
        "POST",
        "/api/v1/time-entries/{entry_id}/revert",
        f"{ENTRIES}/99/revert",
        "write:time_entries",
        404,
        {"version": 1},
    ),
    Probe("GET", f"{TIMER}/status", f"{TIMER}/status", "read:time_entries", 200),
    Probe("POST", f"{TIMER}/start", f"{TIMER}/start", "write:time_entries", 400, {}),
    Probe("POST", f"{TIMER}/stop", f"{TIMER}/stop", "write:time_entries", 409),
    Probe("GET", "/api/v1/reports/summary", "/api/v1/reports/summary", "read:reports", 200),
    Probe(
        "GET",
        "/api/v1/reports/summary/export",
        "/api/v1/reports/summary/export",
        "read:reports",
        200,
    ),
    Probe("GET", f"{ENTRIES}/export", f"{ENTRIES}/export", "read:time_entries", 200),
    Probe("GET", "/api/v1/users/me", "/api/v1/users/me", "read:users", 200),
    Probe("PATCH", "/api/v1/users/me", "/api/v1/users/me", "read:users", 400, {}),
    Probe("GET", "/api/v1/users", "/api/v1/users", "admin:all", 200, admin_only=True),
    Probe("GET", "/api/v1/rate-limit", "/api/v1/rate-limit", ANY, 200),
    Probe("GET", "/api/v1/events", "/api/v1/events", ANY, 200, feed=True),
    Probe(
        "GET",
        "/api/v1/admin/projections",
        "/api/v1/admin/projections",
        "admin:all",
        200,
        admin_only=True,
    ),
    Probe(
        "POST",
        "/api/v1/admin/projections/{name}/rebuild",
        "/api/v1/admin/projections/nope/rebuild",
        "admin:all",
        400,
        admin_only=True,
    ),
    Probe(
        "GET",
        "/api/v1/admin/projections/{name}/rebuild",
        "/api/v1/admin/projections/projects/rebuild",
        "admin:all",
        404,
        admin_only=True,
    ),
    Probe("GET", ADMIN_BACKUPS, ADMIN_BACKUPS, "admin:all", 200, admin_only=True),
    Probe("POST", ADMIN_BACKUPS, ADMIN_BACKUPS, "admin:all", 202, admin_only=True),
    Probe(  # not a multipart upload
        "POST", ADMIN_RESTORE, ADMIN_RESTORE, "admin:all", 415, admin_only=True
    ),
    Probe(  # no "confirm"
        "POST",
        f"{ADMIN_RESTORE}/{{filename}}",
        f"{ADMIN_RESTORE}/nope.tar",
        "admin:all",
        400,
        {},
        admin_only=True,
    ),
    Probe(  # not a multipart upload
        "POST", "/api/v1/admin/imports", "/api/v1/admin/imports", "admin:all", 415, admin_only=True
    ),
    Probe(  # no items
        "POST", f"{ENTRIES}/bulk", f"{ENTRIES}/bulk", "write:time_entries", 400, {}
    ),
    Probe(
        "GET",
        "/api/v1/admin/jobs/{job_id}",
        "/api/v1/admin/jobs/99",
        "admin:all",
        404,
        admin_only=True,
    ),
]


def _routes(api: TestClient) -> set[tuple[str, str]]:
    found = set()
    for route in api.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        # The console (/admin) takes no tokens: tests/api/test_console_access.py checks it.
        if route.method != "HEAD" and not str(path).startswith("/admin"):
            found.add((route.method, str(path)))
    return found


async def test_the_matrix_names_every_route_of_the_app(api: TestClient) -> None:
    assert {(p.method, p.route) for p in PROBES} == _routes(api)


async def test_every_route_lets_in_exactly_the_documented_grants_and_writes_nothing(
    api: TestClient, make_user: MakeUser, make_token: MakeToken, count_events: CountEvents
) -> None:
    callers: dict[tuple[str, str], dict[str, str]] = {}
    for admin_user in (False, True):
        role = "admin" if admin_user else "normal"
        await make_user(role, ["read:users"], admin=admin_user)
        for grant in ALL_GRANTS:
            token = (await make_token(role, [grant])).token
            callers[(role, grant)] = {"Authorization": f"Bearer {token}"}
        callers[(role, "no token")] = {}
    before = await count_events()

    async def ask(probe: Probe, caller: tuple[str, str]) -> tuple[Any, ...]:
        role, grant = caller
        response = await api.request(
            probe.method, probe.path, json=probe.body, headers=callers[caller]
        )
        if probe.scope == PUBLIC:
            expected = probe.passed
        elif grant == "no token":
            expected = 401
        else:
            expected = probe.passed if grant in probe.holders(role == "admin") else 403
        if response.status in (401, 403):
            code = {401: "unauthorized", 403: "forbidden"}[response.status]
            await error_body(response, response.status, code)
        return (probe.method, probe.path, role, grant, response.status, expected)

    answers = []
    for probe in PROBES:
        answers += await asyncio.gather(*[ask(probe, caller) for caller in callers])
    wrong = [answer for answer in answers if answer[4] != answer[5]]
    assert wrong == []
    assert len(answers) == len(PROBES) * 2 * (len(ALL_GRANTS) + 1)
    assert await count_events() == before


async def test_another_users_entry_cannot_be_restored_reverted_or_seen_in_any_way(
    api: TestClient,
    admin: ApiUser,
    make_user: MakeUser,
    count_events: CountEvents,
    settings: Settings,
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", [*EVERYTHING, "read:audit"])
    kept = await new_entry(api, bob, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    gone = await new_entry(api, bob, project, "2024-01-16T09:00:00Z", "2024-01-16T10:00:00Z")
    await api.patch(f"{ENTRIES}/{kept['id']}", json={"notes": "v2"}, headers=bob.headers)
    assert (await api.delete(f"{ENTRIES}/{gone['id']}", headers=bob.headers)).status == 200
    versions = {
        e["id"]: await stream_version(settings, "time_entry", e["id"]) for e in (kept, gone)
    }
    before = await count_events()

    for entry in (kept, gone):
        path = f"{ENTRIES}/{entry['id']}"
        for method, suffix, body in [
            ("POST", "/restore", None),
            ("POST", "/revert", {"version": 1}),
            ("GET", "/history", None),
            ("GET", f"?as_of={_now()}", None),
        ]:
            response = await api.request(method, path + suffix, json=body, headers=alice.headers)
            await error_body(response, 404, "not_found")
    feed = await (
        await api.get("/api/v1/events?resource=time_entry,timer", headers=alice.headers)
    ).json()
    assert feed["events"] == []
    audit = await api.get("/api/v1/events?resource=user", headers=alice.headers)
    await error_body(audit, 403, "forbidden")

    assert await count_events() == before
    for entry_id, version in versions.items():
        assert await stream_version(settings, "time_entry", entry_id) == version


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


FORBIDDEN_FIELDS: dict[str, Any] = {
    "id": 7,
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "version": 9,
    "scopes": ["admin:all"],
    "is_admin": True,
    "role": "admin",
    "owner_id": 1,
    "token_hash": "x" * 64,
    "source": "import",
}


async def test_no_body_can_set_server_fields_and_bodyless_writes_ignore_them(
    api: TestClient,
    admin: ApiUser,
    make_user: MakeUser,
    count_events: CountEvents,
    settings: Settings,
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    task = await new_task(api, alice, project)
    entry = await new_entry(api, alice, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    client = await api.post("/api/v1/clients", json={"name": "C"}, headers=admin.headers)
    client_id = (await client.json())["client"]["id"]
    writes = [
        ("POST", "/api/v1/projects", {"name": "P2"}),
        ("PATCH", f"/api/v1/projects/{project}", {"name": "P3"}),
        ("PUT", f"/api/v1/projects/{project}", {"name": "P3"}),
        ("POST", "/api/v1/clients", {"name": "C2"}),
        ("PATCH", f"/api/v1/clients/{client_id}", {"name": "C3"}),
        ("POST", TASKS, {"project_id": project, "name": "T2"}),
        ("PATCH", f"{TASKS}/{task['id']}", {"name": "T3"}),
        ("PUT", f"{TASKS}/{task['id']}", {"name": "T3"}),
        (
            "POST",
            ENTRIES,
            {
                "project_id": project,
                "start_time": "2024-01-16T09:00:00Z",
                "end_time": "2024-01-16T10:00:00Z",
            },
        ),
        ("PATCH", f"{ENTRIES}/{entry['id']}", {"notes": "n"}),
        ("PUT", f"{ENTRIES}/{entry['id']}", {"notes": "n"}),
        ("POST", f"{TIMER}/start", {"project_id": project}),
        ("POST", f"{ENTRIES}/{entry['id']}/revert", {"version": 1}),
    ]
    before = await count_events()
    for method, path, body in writes:
        for field, value in {**FORBIDDEN_FIELDS, "user_id": bob.id}.items():
            response = await api.request(
                method, path, json={**body, field: value}, headers=alice.headers
            )
            errors = (await error_body(response, 400, "validation_error"))["errors"]
            assert field in errors, (method, path, field, errors)
    assert await count_events() == before

    # Writes without a body schema ignore a body: what they record is the server's.
    started = await api.post(f"{TIMER}/start", json={"project_id": project}, headers=bob.headers)
    assert started.status == 201
    hostile = {**FORBIDDEN_FIELDS, "user_id": bob.id, "entry_id": started.headers["Location"]}
    assert (await api.post(f"{TIMER}/stop", json=hostile, headers=alice.headers)).status == 409
    assert (await api.get(f"{TIMER}/status", headers=bob.headers)).status == 200
    assert (await (await api.get(f"{TIMER}/status", headers=bob.headers)).json())["active"]
    deleted = await api.delete(f"{ENTRIES}/{entry['id']}", json=hostile, headers=alice.headers)
    assert deleted.status == 200
    restored = await api.post(
        f"{ENTRIES}/{entry['id']}/restore", json=hostile, headers=alice.headers
    )
    assert restored.status == 200, await restored.text()
    back = (await restored.json())["time_entry"]
    assert (back["id"], back["user_id"], back["version"]) == (entry["id"], alice.id, 3)
    assert (back["source"], back["created_at"]) == ("api", entry["created_at"])
    assert await stream_version(settings, "time_entry", entry["id"]) == 3
    assert await count_events() == before + 5  # bob's start (3 events), delete, restore


async def test_ten_thousand_random_well_formed_tokens_are_all_refused(
    api: TestClient, admin: ApiUser
) -> None:
    rng = random.Random(10_000)
    alphabet = string.ascii_letters + string.digits + "_-"
    forms = [
        lambda t: {"Authorization": f"Bearer {t}"},
        lambda t: {"Authorization": f"Token {t}"},
        lambda t: {"X-API-Key": t},
    ]
    tokens = ["tt_" + "".join(rng.choice(alphabet) for _ in range(32)) for _ in range(10_000)]
    # near misses of the real token: one character changed, at every position
    real = admin.token
    tokens += [real[:i] + ("A" if real[i] != "A" else "B") + real[i + 1 :] for i in range(3, 35)]

    async def ask(n: int, token: str) -> int:
        response = await api.get("/api/v1/rate-limit", headers=forms[n % 3](token))
        if response.status == 401:
            body = await response.json()
            assert body["message"] == "The provided API token is invalid or expired"
        return response.status

    statuses: list[int] = []
    for start in range(0, len(tokens), 500):
        chunk = tokens[start : start + 500]
        statuses += await asyncio.gather(*[ask(start + n, t) for n, t in enumerate(chunk)])
    assert statuses == [401] * len(tokens)
    assert (await api.get("/api/v1/rate-limit", headers=admin.headers)).status == 200
