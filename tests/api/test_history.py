"""History of one resource over HTTP: every version with who, when, which request and what changed.

Deleted entries and tasks keep their history and answer 404 `deleted` pointing at it; a
normal user never learns anything about another user's entries.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from tests.api.conftest import ApiUser, MakeUser
from tests.api.helpers import created, error_body
from tests.api.timekit import ENTRIES, EVERYTHING, TASKS, get_json, new_entry, new_project


def _actor(user: ApiUser) -> dict[str, Any]:
    return {"user_id": user.id, "username": user.username, "token_prefix": user.token[:8]}


async def _write(
    api: TestClient, method: str, path: str, user: ApiUser, request_id: str, body: Any = None
) -> int:
    """Send a write with an `X-Request-ID`; the position it reports."""
    headers = {**user.headers, "X-Request-ID": request_id}
    response = await api.request(method, path, json=body, headers=headers)
    assert response.status in (200, 201), await response.text()
    return int(response.headers["X-Event-Position"])


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


async def _history(api: TestClient, path: str, user: ApiUser) -> dict[str, Any]:
    response = await api.get(f"{path}/history", headers=user.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    assert int(response.headers["X-Event-Position"]) >= body["history"][-1]["position"]
    return body


async def test_an_entrys_history_shows_each_version_with_actor_request_and_changes(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin, "Web")
    other = await new_project(api, admin, "Ops")
    alice = await make_user("alice", EVERYTHING)
    created_at = await _write(
        api,
        "POST",
        ENTRIES,
        alice,
        "req-create",
        {
            "project_id": project,
            "start_time": "2024-01-15T09:00:00Z",
            "end_time": "2024-01-15T10:00:00Z",
            "notes": "draft",
        },
    )
    path = f"{ENTRIES}/1"
    edited_at = await _write(
        api,
        "PATCH",
        path,
        alice,
        "req-edit",
        {"notes": "final", "end_time": "2024-01-15T10:30:00Z", "tags": ["a", "b"]},
    )
    moved_at = await _write(api, "PATCH", path, admin, "req-move", {"project_id": other})
    deleted_at = await _write(api, "DELETE", path, alice, "req-delete")

    body = await _history(api, path, alice)

    assert body["resource"] == "time_entry"
    assert body["resource_id"] == 1
    assert body["deleted"] is True
    history = body["history"]
    assert [item["at"] for item in history] == sorted(item["at"] for item in history)
    for item in history:
        del item["at"]
    assert history == [
        {
            "version": 1,
            "event": "EntryCreated",
            "position": created_at,
            "actor": _actor(alice),
            "request_id": "req-create",
            "changes": {
                "user_id": {"from": None, "to": alice.id},
                "project_id": {"from": None, "to": project},
                "start_time": {"from": None, "to": "2024-01-15T09:00:00Z"},
                "end_time": {"from": None, "to": "2024-01-15T10:00:00Z"},
                "notes": {"from": None, "to": "draft"},
                "billable": {"from": None, "to": True},
                "duration_seconds": {"from": None, "to": 3600},
                "source": {"from": None, "to": "api"},
            },
        },
        {
            "version": 2,
            "event": "EntryEdited",
            "position": edited_at,
            "actor": _actor(alice),
            "request_id": "req-edit",
            "changes": {
                "end_time": {"from": "2024-01-15T10:00:00Z", "to": "2024-01-15T10:30:00Z"},
                "notes": {"from": "draft", "to": "final"},
                "tags": {"from": None, "to": "a,b"},
                "duration_seconds": {"from": 3600, "to": 5400},
            },
        },
        {
            "version": 3,
            "event": "EntryEdited",
            "position": moved_at,
            "actor": _actor(admin),
            "request_id": "req-move",
            "changes": {"project_id": {"from": project, "to": other}},
        },
        {
            "version": 4,
            "event": "EntryDeleted",
            "position": deleted_at,
            "actor": _actor(alice),
            "request_id": "req-delete",
            "changes": {"deleted": {"from": False, "to": True}},
        },
    ]
    assert (await _history(api, path, admin))["history"][0]["changes"] == history[0]["changes"]


async def test_a_deleted_entry_answers_404_deleted_and_others_learn_nothing(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    entry = await new_entry(api, alice, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    path = f"{ENTRIES}/{entry['id']}"
    assert (await api.delete(path, headers=alice.headers)).status == 200

    for reader in (alice, admin):
        body = await error_body(await api.get(path, headers=reader.headers), 404, "deleted")
        assert body["history_url"] == f"{path}/history"
        assert (await _history(api, path, reader))["deleted"] is True
    # bob may not know the entry exists, deleted or not
    await error_body(await api.get(path, headers=bob.headers), 404, "not_found")
    await error_body(await api.get(f"{path}/history", headers=bob.headers), 404, "not_found")
    kept = await new_entry(api, alice, project, "2024-01-16T09:00:00Z", "2024-01-16T10:00:00Z")
    kept_path = f"{ENTRIES}/{kept['id']}"
    await error_body(await api.get(kept_path, headers=bob.headers), 404, "not_found")
    await error_body(await api.get(f"{kept_path}/history", headers=bob.headers), 404, "not_found")
    await error_body(
        await api.get(f"{ENTRIES}/99/history", headers=admin.headers), 404, "not_found"
    )
    await error_body(await api.get(f"{ENTRIES}/99", headers=admin.headers), 404, "not_found")
    await error_body(
        await api.get(f"{ENTRIES}/x/history", headers=admin.headers), 400, "validation_error"
    )


async def test_history_needs_the_resources_read_scope(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin)
    client = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    writer = await make_user("writer", ["write:*", "read:projects"])
    entry = await new_entry(api, writer, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")

    for path, scope in [
        (f"{ENTRIES}/{entry['id']}/history", "read:time_entries"),
        (f"/api/v1/clients/{client['id']}/history", "read:clients"),
        (f"{TASKS}/1/history", "read:tasks"),
    ]:
        body = await error_body(await api.get(path, headers=writer.headers), 403, "forbidden")
        assert body["required_scope"] == scope
    assert (
        await api.get(f"/api/v1/projects/{project}/history", headers=writer.headers)
    ).status == 200


async def test_a_projects_history_shows_updates_and_its_archival(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    client = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    await _write(
        api,
        "POST",
        "/api/v1/projects",
        admin,
        "p1",
        {"name": "Site", "hourly_rate": 90.5, "client_id": client["id"]},
    )
    path = "/api/v1/projects/1"
    await _write(api, "PATCH", path, admin, "p2", {"name": "Site v2", "status": "on_hold"})
    await _write(api, "PATCH", path, admin, "p3", {"name": "Site v2"})  # no change, no event
    await _write(api, "DELETE", path, admin, "p4")
    reader = await make_user("reader", ["read:projects"])

    history = (await _history(api, path, reader))["history"]

    assert [(h["version"], h["event"], h["request_id"]) for h in history] == [
        (1, "ProjectCreated", "p1"),
        (2, "ProjectUpdated", "p2"),
        (3, "ProjectArchived", "p4"),
    ]
    assert history[0]["changes"] == {
        "name": {"from": None, "to": "Site"},
        "client_id": {"from": None, "to": client["id"]},
        "hourly_rate": {"from": None, "to": 90.5},
        "billable": {"from": None, "to": True},
        "status": {"from": None, "to": "active"},
    }
    assert history[1]["changes"] == {
        "name": {"from": "Site", "to": "Site v2"},
        "status": {"from": "active", "to": "on_hold"},
    }
    assert history[2]["changes"] == {
        "status": {"from": "on_hold", "to": "archived"},
        "archived_at": {"from": None, "to": history[2]["at"]},
    }
    project = await get_json(api, path, reader)
    assert project["project"]["archived_at"] == history[2]["at"]


async def test_a_deleted_task_keeps_its_history_and_answers_404_deleted(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    task = await created(api, TASKS, {"project_id": project, "name": "Design"}, alice.headers)
    path = f"{TASKS}/{task['id']}"
    await _write(api, "PATCH", path, alice, "t2", {"priority": "urgent", "status": "done"})
    await _write(api, "DELETE", path, alice, "t3")

    body = await error_body(await api.get(path, headers=alice.headers), 404, "deleted")
    assert body["history_url"] == f"{path}/history"
    history = await _history(api, path, alice)

    assert history["deleted"] is True
    assert [(h["event"], h["changes"]) for h in history["history"]] == [
        (
            "TaskCreated",
            {
                "project_id": {"from": None, "to": project},
                "name": {"from": None, "to": "Design"},
                "status": {"from": None, "to": "todo"},
                "priority": {"from": None, "to": "medium"},
            },
        ),
        (
            "TaskUpdated",
            {
                "status": {"from": "todo", "to": "done"},
                "priority": {"from": "medium", "to": "urgent"},
            },
        ),
        ("TaskDeleted", {"deleted": {"from": False, "to": True}}),
    ]
    await error_body(await api.get(f"{TASKS}/9", headers=alice.headers), 404, "not_found")


async def test_a_clients_history_follows_renames_and_archival(
    api: TestClient, admin: ApiUser
) -> None:
    client = await created(api, "/api/v1/clients", {"name": "Acme"}, admin.headers)
    path = f"/api/v1/clients/{client['id']}"
    await _write(api, "PUT", path, admin, "c2", {"name": "Acme Ltd", "email": "a@acme.test"})
    await _write(api, "DELETE", path, admin, "c3")

    history = (await _history(api, path, admin))["history"]

    assert [(h["event"], h["changes"]) for h in history] == [
        (
            "ClientCreated",
            {"name": {"from": None, "to": "Acme"}, "status": {"from": None, "to": "active"}},
        ),
        (
            "ClientUpdated",
            {
                "name": {"from": "Acme", "to": "Acme Ltd"},
                "email": {"from": None, "to": "a@acme.test"},
            },
        ),
        ("ClientArchived", {"status": {"from": "active", "to": "archived"}}),
    ]
    assert [h["version"] for h in history] == [1, 2, 3]
    positions = [h["position"] for h in history]
    assert positions == sorted(set(positions))


async def test_the_openapi_document_describes_history_feed_as_of_undo_and_positions(
    api: TestClient,
) -> None:
    document = await (await api.get("/api/docs/openapi.json")).json()
    validate(document, cls=OpenAPIV30SpecValidator)
    paths = document["paths"]

    for resource, name in [
        ("time-entries", "entry_id"),
        ("projects", "project_id"),
        ("tasks", "task_id"),
        ("clients", "client_id"),
    ]:
        history = paths[f"/api/v1/{resource}/{{{name}}}/history"]["get"]
        assert {"200", "401", "403", "404"} <= set(history["responses"])
        single = paths[f"/api/v1/{resource}/{{{name}}}"]["get"]
        assert "as_of" in {p["name"] for p in single["parameters"] if p["in"] == "query"}
    feed = paths["/api/v1/events"]["get"]
    assert {p["name"] for p in feed["parameters"] if p["in"] == "query"} == {
        "after",
        "limit",
        "type",
        "resource",
    }
    assert {"200", "400", "401", "403"} <= set(feed["responses"])
    summary = paths["/api/v1/reports/summary"]["get"]
    assert "as_of" in {p["name"] for p in summary["parameters"]}
    for action in ("restore", "revert"):
        operation = paths[f"/api/v1/time-entries/{{entry_id}}/{action}"]["post"]
        assert {"200", "404", "409", "412"} <= set(operation["responses"])
    revert = paths["/api/v1/time-entries/{entry_id}/revert"]["post"]["requestBody"]
    revert_schema = _resolve(document, revert["content"]["application/json"]["schema"])
    assert revert_schema["required"] == ["version"]
    assert revert_schema["properties"]["version"]["type"] == "integer"
    for path, item in paths.items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                assert "X-Event-Position" in response.get("headers", {}), (method, path, status)
