"""/api/v1/tasks over HTTP: CRUD, priorities, order and filters, deletion, If-Match."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents, MakeUser
from tests.api.helpers import error_body
from tests.api.timekit import (
    ENTRIES,
    EVERYTHING,
    TASKS,
    archive_project,
    get_json,
    listed_entries,
    new_entry,
    new_project,
    new_task,
    summary,
)


async def test_a_task_is_created_read_updated_listed_and_deleted(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    before = await count_events()

    response = await api.post(
        TASKS, json={"project_id": project, "name": "  Design  "}, headers=alice.headers
    )

    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["message"] == "Task created successfully"
    task = dict(body["task"])
    assert response.headers["Location"] == f"{TASKS}/{task['id']}"
    assert response.headers["ETag"] == '"1"'
    assert await count_events() == before + 1
    assert task.pop("created_at") == task.pop("updated_at")
    assert task == {
        "id": 1,
        "project_id": project,
        "name": "Design",
        "description": None,
        "status": "todo",
        "priority": "medium",
        "version": 1,
    }
    fetched = await api.get(f"{TASKS}/1", headers=alice.headers)
    assert fetched.headers["ETag"] == '"1"'
    assert await fetched.json() == {"task": body["task"]}

    put = await api.put(
        f"{TASKS}/1",
        json={"name": "Design v2", "description": "Mock-ups", "status": "in_progress"},
        headers=alice.headers,
    )
    assert put.status == 200, await put.text()
    assert put.headers["ETag"] == '"2"'
    put_body = await put.json()
    assert put_body["message"] == "Task updated successfully"
    assert {k: put_body["task"][k] for k in ("name", "description", "status", "priority")} == {
        "name": "Design v2",
        "description": "Mock-ups",
        "status": "in_progress",
        "priority": "medium",
    }
    patch = await api.patch(f"{TASKS}/1", json={"priority": 3}, headers=alice.headers)
    patched = (await patch.json())["task"]
    assert (patched["priority"], patched["name"], patched["version"]) == ("high", "Design v2", 3)
    listed = await get_json(api, TASKS, alice)
    assert listed["tasks"] == [patched]
    assert listed["pagination"]["total"] == 1

    deleted = await api.delete(f"{TASKS}/1", headers=alice.headers)

    assert deleted.status == 200, await deleted.text()
    assert await deleted.json() == {"message": "Task deleted successfully"}
    assert deleted.headers["ETag"] == '"4"'
    after_delete = await count_events()
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await api.request(
            method, f"{TASKS}/1", json={"name": "x"}, headers=alice.headers
        )
        # issue 6: reading a deleted task answers 404 `deleted`, pointing at its history
        await error_body(response, 404, "deleted" if method == "GET" else "not_found")
    assert (await get_json(api, TASKS, alice))["tasks"] == []
    assert await count_events() == after_delete


async def test_priority_accepts_names_and_the_integers_1_to_4(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    expected = {1: "low", 2: "medium", 3: "high", 4: "urgent"}

    for number, name in expected.items():
        by_number = await new_task(api, admin, project, f"n{number}", priority=number)
        by_name = await new_task(api, admin, project, f"s{number}", priority=name)
        assert (by_number["priority"], by_name["priority"]) == (name, name)
    changed = await api.patch(f"{TASKS}/1", json={"priority": 4}, headers=admin.headers)
    assert (await changed.json())["task"]["priority"] == "urgent"

    before = await count_events()
    for bad in (0, 5, -1, "4", "critical", "URGENT", True, 2.0, 2.5, None, [1]):
        for method, path, values in (
            ("POST", TASKS, {"project_id": project, "name": "x", "priority": bad}),
            ("PATCH", f"{TASKS}/2", {"priority": bad}),
        ):
            response = await api.request(method, path, json=values, headers=admin.headers)
            errors = (await error_body(response, 400, "validation_error"))["errors"]
            assert list(errors) == ["priority"], (method, bad, errors)
    assert await count_events() == before


async def test_tasks_are_listed_urgent_first_then_by_name_and_filtered(
    api: TestClient, admin: ApiUser
) -> None:
    web = await new_project(api, admin, "Web")
    app = await new_project(api, admin, "App")
    for project, name, priority, status in [
        (web, "b", "low", "todo"),
        (web, "a", 4, "done"),
        (app, "c", "urgent", "todo"),
        (web, "d", "medium", "review"),
        (app, "a", "high", "todo"),
        (web, "c", "medium", "todo"),
    ]:
        await new_task(api, admin, project, name, priority=priority, status=status)

    async def names(query: str = "") -> list[tuple[str, int]]:
        body = await get_json(api, f"{TASKS}?{query}", admin)
        return [(t["name"], t["project_id"]) for t in body["tasks"]]

    assert await names() == [("a", web), ("c", app), ("a", app), ("c", web), ("d", web), ("b", web)]
    assert await names(f"project_id={web}") == [("a", web), ("c", web), ("d", web), ("b", web)]
    assert await names("status=todo") == [("c", app), ("a", app), ("c", web), ("b", web)]
    assert await names(f"status=todo&project_id={app}") == [("c", app), ("a", app)]
    assert await names("project_id=999") == []
    page = await get_json(api, f"{TASKS}?per_page=4&page=2", admin)
    assert [t["name"] for t in page["tasks"]] == ["d", "b"]
    assert page["pagination"] == {
        "page": 2,
        "per_page": 4,
        "total": 6,
        "pages": 2,
        "has_next": False,
        "has_prev": True,
        "next_page": None,
        "prev_page": 1,
    }
    assert (await get_json(api, f"{TASKS}?page=1000000", admin))["tasks"] == []
    for query, field in (
        ("status=open", "status"),
        ("project_id=abc", "project_id"),
        ("project_id=0", "project_id"),
        ("page=1000001", "page"),
    ):
        response = await api.get(f"{TASKS}?{query}", headers=admin.headers)
        assert list((await error_body(response, 400, "validation_error"))["errors"]) == [field]


async def test_deleting_a_task_keeps_its_time_entries(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin, "Web")
    alice = await make_user("alice", EVERYTHING)
    task = await new_task(api, alice, project, "Doomed")
    entry = await new_entry(
        api, alice, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z", task_id=task["id"]
    )
    assert (await api.delete(f"{TASKS}/{task['id']}", headers=alice.headers)).status == 200

    kept = await get_json(api, f"{ENTRIES}/{entry['id']}", alice)

    assert kept == {"time_entry": entry}
    assert await listed_entries(api, alice) == [entry]
    report = await summary(api, alice, "start_date=2024-01-15&end_date=2024-01-15")
    assert (report["total_hours"], report["total_entries"]) == (1.0, 1)
    # the entry can still be edited; it keeps the deleted task unless told otherwise
    edited = await api.patch(
        f"{ENTRIES}/{entry['id']}", json={"notes": "still here"}, headers=alice.headers
    )
    assert edited.status == 200, await edited.text()
    assert (await edited.json())["time_entry"]["task_id"] == task["id"]
    # but no entry can newly name the deleted task
    before = await count_events()
    for method, path, values in (
        (
            "POST",
            ENTRIES,
            {
                "project_id": project,
                "task_id": task["id"],
                "start_time": "2024-01-16T09:00:00Z",
                "end_time": "2024-01-16T10:00:00Z",
            },
        ),
        ("POST", "/api/v1/timer/start", {"project_id": project, "task_id": task["id"]}),
    ):
        response = await api.request(method, path, json=values, headers=alice.headers)
        assert list((await error_body(response, 400, "validation_error"))["errors"]) == ["task_id"]
    assert await count_events() == before
    cleared = await api.patch(
        f"{ENTRIES}/{entry['id']}", json={"task_id": None}, headers=alice.headers
    )
    assert (await cleared.json())["time_entry"]["task_id"] is None
    restored = await api.patch(
        f"{ENTRIES}/{entry['id']}", json={"task_id": task["id"]}, headers=alice.headers
    )
    assert list((await error_body(restored, 400, "validation_error"))["errors"]) == ["task_id"]


async def test_no_task_is_created_in_an_archived_or_missing_project(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    existing = await new_task(api, admin, project, "Before")
    await archive_project(api, admin, project)
    before = await count_events()

    archived = await api.post(
        TASKS, json={"project_id": project, "name": "x"}, headers=admin.headers
    )
    missing = await api.post(TASKS, json={"project_id": 999, "name": "x"}, headers=admin.headers)

    await error_body(archived, 409, "project_archived")
    assert list((await error_body(missing, 400, "validation_error"))["errors"]) == ["project_id"]
    assert await count_events() == before
    assert [t["id"] for t in (await get_json(api, TASKS, admin))["tasks"]] == [existing["id"]]


async def test_if_match_guards_task_updates_and_deletes(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    task = await new_task(api, admin, project, "One")
    path = f"{TASKS}/{task['id']}"
    assert (await api.patch(path, json={"name": "Two"}, headers=admin.headers)).status == 200
    before = await count_events()

    for method in ("PUT", "PATCH", "DELETE"):
        for stale in ('"1"', "1", 'W/"1"', '"7"'):
            headers = {**admin.headers, "If-Match": stale}
            response = await api.request(method, path, json={"name": "Three"}, headers=headers)
            await error_body(response, 412, "precondition_failed")
    bad_tag = await api.patch(
        path, json={"name": "Three"}, headers={**admin.headers, "If-Match": "abc"}
    )
    assert list((await error_body(bad_tag, 400, "validation_error"))["errors"]) == ["If-Match"]
    assert await count_events() == before
    fetched = await api.get(path, headers=admin.headers)
    assert fetched.headers["ETag"] == '"2"'
    assert (await fetched.json())["task"]["name"] == "Two"

    ok = await api.put(path, json={"name": "Three"}, headers={**admin.headers, "If-Match": '"2"'})
    assert (ok.status, ok.headers["ETag"]) == (200, '"3"')
    gone = await api.delete(path, headers={**admin.headers, "If-Match": '"3"'})
    assert gone.status == 200
    assert await count_events() == before + 2


async def test_task_endpoints_answer_401_403_404_and_405(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    task = await new_task(api, admin, project, "T")
    reader = await make_user("reader", ["read:tasks"])
    writer = await make_user("writer", ["write:tasks"])
    before = await count_events()

    await error_body(await api.get(TASKS), 401, "unauthorized")
    denied = await api.post(
        TASKS, json={"project_id": project, "name": "x"}, headers=reader.headers
    )
    assert (await error_body(denied, 403, "forbidden"))["required_scope"] == "write:tasks"
    for method in ("PUT", "PATCH", "DELETE"):
        response = await api.request(
            method, f"{TASKS}/{task['id']}", json={"name": "x"}, headers=reader.headers
        )
        await error_body(response, 403, "forbidden")
    await error_body(await api.get(TASKS, headers=writer.headers), 403, "forbidden")
    await error_body(await api.get(f"{TASKS}/999", headers=reader.headers), 404, "not_found")
    await error_body(
        await api.post(f"{TASKS}/{task['id']}", json={}, headers=admin.headers),
        405,
        "method_not_allowed",
    )
    assert await count_events() == before
