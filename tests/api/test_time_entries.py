"""/api/v1/time-entries over HTTP: create, read, list (filters, order, pages), edit, delete."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import psycopg
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents, MakeUser
from tests.api.helpers import PAGINATION_KEYS, error_body
from tests.api.timekit import (
    ENTRIES,
    EVERYTHING,
    archive_project,
    get_json,
    listed_entries,
    new_entry,
    new_project,
    new_task,
    stream_version,
)
from timetracker.http.settings import Settings


async def test_an_entry_is_created_read_and_listed_with_every_field(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    task = await new_task(api, alice, project, "Design")
    before = await count_events()

    response = await api.post(
        ENTRIES,
        json={
            "project_id": project,
            "task_id": task["id"],
            "start_time": "2024-01-15T09:00:00Z",
            "end_time": "2024-01-15T10:30:00Z",
            "notes": "Kick-off",
            "tags": [" design ", "meeting", ""],
            "billable": False,
        },
        headers=alice.headers,
    )

    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["message"] == "Time entry created successfully"
    entry = dict(body["time_entry"])
    assert response.headers["Location"] == f"{ENTRIES}/{entry['id']}"
    assert response.headers["ETag"] == '"1"'
    assert await count_events() == before + 1
    created_at = entry.pop("created_at")
    assert entry.pop("updated_at") == created_at
    assert entry == {
        "id": 1,
        "user_id": alice.id,
        "project_id": project,
        "task_id": task["id"],
        "start_time": "2024-01-15T09:00:00Z",
        "end_time": "2024-01-15T10:30:00Z",
        "duration_seconds": 5400,
        "duration_hours": 1.5,
        "notes": "Kick-off",
        "tags": "design,meeting",
        "tag_list": ["design", "meeting"],
        "billable": False,
        "is_active": False,
        "source": "api",
        "version": 1,
    }

    fetched = await api.get(response.headers["Location"], headers=alice.headers)
    assert fetched.status == 200
    assert fetched.headers["ETag"] == '"1"'
    assert await fetched.json() == {"time_entry": body["time_entry"]}
    listed = await get_json(api, ENTRIES, alice)
    assert listed["time_entries"] == [body["time_entry"]]
    assert set(listed["pagination"]) == PAGINATION_KEYS


async def test_defaults_tags_as_a_string_and_a_time_without_offset_taken_as_utc(
    api: TestClient, admin: ApiUser
) -> None:
    project = await new_project(api, admin)

    entry = await new_entry(
        api, admin, project, "2024-01-15T09:00:00", "2024-01-15T09:00:01.250000", tags="a, b,,c"
    )

    assert entry["start_time"] == "2024-01-15T09:00:00Z"
    assert entry["end_time"] == "2024-01-15T09:00:01.250000Z"
    assert (entry["duration_seconds"], entry["duration_hours"]) == (1, 0.0)
    assert (entry["tags"], entry["tag_list"]) == ("a,b,c", ["a", "b", "c"])
    assert (entry["billable"], entry["notes"], entry["task_id"]) == (True, None, None)
    assert entry["user_id"] == admin.id


async def test_offsets_are_converted_to_utc_in_responses_and_in_storage(
    api: TestClient, admin: ApiUser, settings: Settings
) -> None:
    project = await new_project(api, admin)

    entry = await new_entry(
        api, admin, project, "2024-03-10T09:00:00+05:30", "2024-03-09T23:15:00-08:00"
    )

    # 09:00 at +05:30 is 03:30Z; 23:15 the day before at -08:00 is 07:15Z
    assert entry["start_time"] == "2024-03-10T03:30:00Z"
    assert entry["end_time"] == "2024-03-10T07:15:00Z"
    assert entry["duration_seconds"] == 3 * 3600 + 45 * 60
    assert entry["duration_hours"] == 3.75
    async with await psycopg.AsyncConnection.connect(settings.conninfo) as conn:
        await conn.execute("SET TIME ZONE 'Asia/Tokyo'")  # the session zone must not matter
        cursor = await conn.execute(
            "SELECT start_time, end_time, to_char(start_time AT TIME ZONE 'UTC', 'HH24:MI')"
            " FROM time_entries WHERE id = %s",
            (entry["id"],),
        )
        row = await cursor.fetchone()
    assert row is not None
    assert row[0] == datetime(2024, 3, 10, 3, 30, tzinfo=UTC)
    assert row[1] == datetime(2024, 3, 10, 7, 15, tzinfo=UTC)
    assert row[2] == "03:30"
    edited = await api.patch(
        f"{ENTRIES}/{entry['id']}",
        json={"end_time": "2024-03-10T12:00:00+02:00"},
        headers=admin.headers,
    )
    assert edited.status == 200, await edited.text()
    changed = (await edited.json())["time_entry"]
    assert (changed["end_time"], changed["duration_seconds"]) == ("2024-03-10T10:00:00Z", 23400)


async def _seed_for_filters(
    api: TestClient, admin: ApiUser, alice: ApiUser, bob: ApiUser
) -> tuple[int, int, dict[str, int]]:
    web = await new_project(api, admin, "Web")
    app = await new_project(api, admin, "App")
    ids: dict[str, int] = {}
    for label, user, project, start, end, billable in [
        ("a1", alice, web, "2024-01-10T09:00:00Z", "2024-01-10T10:00:00Z", True),
        ("a2", alice, app, "2024-01-12T09:00:00Z", "2024-01-12T09:30:00Z", False),
        ("a3", alice, web, "2024-01-15T23:30:00Z", "2024-01-15T23:59:00Z", True),
        ("a4", alice, web, "2024-01-16T00:00:00Z", "2024-01-16T00:05:00Z", False),
        ("a5", alice, app, "2024-01-16T00:10:00Z", "2024-01-16T01:00:00Z", True),
        ("b1", bob, web, "2024-01-12T12:00:00Z", "2024-01-12T13:00:00Z", True),
    ]:
        ids[label] = (await new_entry(api, user, project, start, end, billable=billable))["id"]
    ids["a_running"] = (await new_entry(api, alice, web, "2024-01-14T08:00:00Z", None))["id"]
    return web, app, ids


async def test_lists_are_filtered_and_sorted_by_start_time_latest_first(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    web, app, ids = await _seed_for_filters(api, admin, alice, bob)

    async def alice_sees(query: str) -> list[int]:
        return [e["id"] for e in await listed_entries(api, alice, query)]

    assert await alice_sees("") == [ids[k] for k in ("a5", "a4", "a3", "a2", "a1")]
    assert await alice_sees("include_active=true") == [
        ids[k] for k in ("a5", "a4", "a3", "a_running", "a2", "a1")
    ]
    assert await alice_sees("include_active=1") == await alice_sees("include_active=true")
    assert await alice_sees("include_active=false") == await alice_sees("")
    assert await alice_sees(f"project_id={web}") == [ids[k] for k in ("a4", "a3", "a1")]
    assert await alice_sees(f"project_id={app}") == [ids[k] for k in ("a5", "a2")]
    assert await alice_sees("project_id=999") == []
    for true in ("true", "1", "True"):
        assert await alice_sees(f"billable={true}") == [ids[k] for k in ("a5", "a3", "a1")]
    for false in ("false", "0", "FALSE"):
        assert await alice_sees(f"billable={false}") == [ids[k] for k in ("a4", "a2")]
    assert await alice_sees("start_date=2024-01-12") == [ids[k] for k in ("a5", "a4", "a3", "a2")]
    assert await alice_sees("start_date=2024-01-12T09:00:01Z") == [
        ids[k] for k in ("a5", "a4", "a3")
    ]
    assert await alice_sees(
        f"start_date=2024-01-11&end_date=2024-01-15&project_id={web}&include_active=true"
    ) == [ids["a3"], ids["a_running"]]
    assert await alice_sees("end_date=2024-01-12T09:00:00Z") == [ids["a2"], ids["a1"]]
    assert await alice_sees("start_date=2024-01-16&end_date=2024-01-16&billable=1") == [ids["a5"]]


async def test_a_date_only_end_date_includes_its_whole_day_and_nothing_after(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    _, _, ids = await _seed_for_filters(api, admin, alice, bob)

    listed = await listed_entries(api, alice, "start_date=2024-01-15&end_date=2024-01-15")

    # 23:30 on the 15th counts; 00:00:00 and 00:10 on the 16th do not
    assert [e["id"] for e in listed] == [ids["a3"]]
    whole_day = await listed_entries(api, alice, "end_date=2024-01-15")
    assert [e["start_time"] for e in whole_day] == [
        "2024-01-15T23:30:00Z",
        "2024-01-12T09:00:00Z",
        "2024-01-10T09:00:00Z",
    ]


async def test_pages_of_entries_and_huge_page_numbers(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    _, _, ids = await _seed_for_filters(api, admin, alice, bob)

    first = await get_json(api, f"{ENTRIES}?per_page=2", alice)
    third = await get_json(api, f"{ENTRIES}?per_page=2&page=3", alice)
    past = await get_json(api, f"{ENTRIES}?per_page=2&page=4", alice)
    huge = await get_json(api, f"{ENTRIES}?page=1000000&per_page=100", alice)
    clamped = await get_json(api, f"{ENTRIES}?per_page=100000", alice)

    assert [e["id"] for e in first["time_entries"]] == [ids["a5"], ids["a4"]]
    assert first["pagination"] == {
        "page": 1,
        "per_page": 2,
        "total": 5,
        "pages": 3,
        "has_next": True,
        "has_prev": False,
        "next_page": 2,
        "prev_page": None,
    }
    assert [e["id"] for e in third["time_entries"]] == [ids["a1"]]
    assert (third["pagination"]["has_next"], third["pagination"]["prev_page"]) == (False, 2)
    assert past["time_entries"] == []
    assert past["pagination"]["total"] == 5
    assert huge["time_entries"] == []
    assert huge["pagination"]["page"] == 1000000
    assert huge["pagination"]["prev_page"] == 999999
    assert len(clamped["time_entries"]) == 5
    assert clamped["pagination"]["per_page"] == 100
    for query in (
        "page=1000001",
        f"page={10**30}",
        "page=0",
        "per_page=0",
        "page=-1",
        "page=abc",
    ):
        response = await api.get(f"{ENTRIES}?{query}", headers=alice.headers)
        errors = (await error_body(response, 400, "validation_error"))["errors"]
        assert list(errors) == [query.split("=")[0]], (query, errors)


async def test_put_and_patch_change_only_what_is_sent_and_recompute_the_duration(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    entry = await new_entry(
        api, alice, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z", notes="n"
    )
    path = f"{ENTRIES}/{entry['id']}"

    patched = await api.patch(
        path, json={"start_time": "2024-01-15T08:15:00Z"}, headers=alice.headers
    )
    assert patched.status == 200, await patched.text()
    body = await patched.json()
    assert body["message"] == "Time entry updated successfully"
    assert patched.headers["ETag"] == '"2"'
    after_patch = body["time_entry"]
    assert (after_patch["duration_seconds"], after_patch["duration_hours"]) == (6300, 1.75)
    assert (after_patch["notes"], after_patch["version"]) == ("n", 2)

    put = await api.put(
        path,
        json={"end_time": "2024-01-15T08:35:00Z", "notes": None, "tags": "x", "billable": False},
        headers=alice.headers,
    )
    assert put.status == 200, await put.text()
    after_put = (await put.json())["time_entry"]
    assert after_put["start_time"] == "2024-01-15T08:15:00Z"
    assert (after_put["duration_seconds"], after_put["duration_hours"]) == (1200, 0.33)
    assert (after_put["notes"], after_put["tags"], after_put["billable"]) == (None, "x", False)
    assert after_put["version"] == 3

    # both times at once, the duration follows; sending the same values writes nothing
    both = await api.patch(
        path,
        json={"start_time": "2024-01-16T10:00:00Z", "end_time": "2024-01-16T12:00:01Z"},
        headers=alice.headers,
    )
    assert (await both.json())["time_entry"]["duration_seconds"] == 7201
    before = await count_events()
    same = await api.patch(path, json={"end_time": "2024-01-16T12:00:01Z"}, headers=alice.headers)
    assert same.status == 200
    assert (await same.json())["time_entry"]["version"] == 4
    assert await count_events() == before
    assert (await get_json(api, path, alice))["time_entry"] == (await same.json())["time_entry"]


async def test_moving_an_entry_to_another_project_checks_the_project_and_the_task(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    web = await new_project(api, admin, "Web")
    app = await new_project(api, admin, "App")
    old = await new_project(api, admin, "Old")
    await archive_project(api, admin, old)
    alice = await make_user("alice", EVERYTHING)
    web_task = await new_task(api, alice, web, "W")
    app_task = await new_task(api, alice, app, "A")
    entry = await new_entry(
        api, alice, web, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z", task_id=web_task["id"]
    )
    path = f"{ENTRIES}/{entry['id']}"
    before = await count_events()

    wrong_task = await api.patch(path, json={"task_id": app_task["id"]}, headers=alice.headers)
    assert "task_id" in (await error_body(wrong_task, 400, "validation_error"))["errors"]
    both_wrong = await api.patch(
        path, json={"project_id": app, "task_id": web_task["id"]}, headers=alice.headers
    )
    assert "task_id" in (await error_body(both_wrong, 400, "validation_error"))["errors"]
    archived = await api.patch(path, json={"project_id": old}, headers=alice.headers)
    await error_body(archived, 409, "project_archived")
    missing = await api.patch(path, json={"project_id": 999}, headers=alice.headers)
    assert "project_id" in (await error_body(missing, 400, "validation_error"))["errors"]
    assert await count_events() == before

    moved = await api.patch(path, json={"project_id": app}, headers=alice.headers)
    assert moved.status == 200, await moved.text()
    assert {k: (await moved.json())["time_entry"][k] for k in ("project_id", "task_id")} == {
        "project_id": app,
        "task_id": None,  # the old task belongs to the old project
    }
    with_task = await api.patch(path, json={"task_id": app_task["id"]}, headers=alice.headers)
    assert (await with_task.json())["time_entry"]["task_id"] == app_task["id"]
    cleared = await api.patch(path, json={"task_id": None}, headers=alice.headers)
    assert (await cleared.json())["time_entry"]["task_id"] is None


async def test_a_deleted_entry_is_gone_from_reads_and_lists_but_its_history_stays(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    kept = await new_entry(api, alice, project, "2024-01-14T09:00:00Z", "2024-01-14T10:00:00Z")
    entry = await new_entry(api, alice, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    path = f"{ENTRIES}/{entry['id']}"

    deleted = await api.delete(path, headers=alice.headers)

    assert deleted.status == 200, await deleted.text()
    assert await deleted.json() == {"message": "Time entry deleted successfully"}
    assert deleted.headers["ETag"] == '"2"'
    # issue 6: a deleted entry answers 404 `deleted`, pointing at its history
    await error_body(await api.get(path, headers=alice.headers), 404, "deleted")
    await error_body(await api.get(path, headers=admin.headers), 404, "deleted")
    assert [e["id"] for e in await listed_entries(api, alice)] == [kept["id"]]
    assert await stream_version(settings, "time_entry", entry["id"]) == 2
    for method in ("DELETE", "PATCH", "PUT"):
        again = await api.request(method, path, json={"notes": "x"}, headers=alice.headers)
        await error_body(again, 404, "not_found")
    assert await stream_version(settings, "time_entry", entry["id"]) == 2


async def test_if_match_guards_edits_and_deletes_of_entries(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)
    entry = await new_entry(api, alice, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    path = f"{ENTRIES}/{entry['id']}"
    assert (await api.patch(path, json={"notes": "v2"}, headers=alice.headers)).status == 200
    fetched = await api.get(path, headers=alice.headers)
    assert fetched.headers["ETag"] == '"2"'
    before = await count_events()

    for method in ("PUT", "PATCH", "DELETE"):
        for stale in ('"1"', "1", 'W/"1"', '"3"'):
            headers = {**alice.headers, "If-Match": stale}
            response = await api.request(method, path, json={"notes": "no"}, headers=headers)
            await error_body(response, 412, "precondition_failed")
    assert await count_events() == before
    assert (await get_json(api, path, alice))["time_entry"]["notes"] == "v2"

    matching = await api.patch(
        path, json={"notes": "v3"}, headers={**alice.headers, "If-Match": '"2"'}
    )
    assert matching.status == 200
    assert matching.headers["ETag"] == '"3"'
    removed = await api.delete(path, headers={**alice.headers, "If-Match": '"3"'})
    assert removed.status == 200
    assert await count_events() == before + 2


async def test_entry_endpoints_answer_401_403_404_405_and_413_with_the_error_body(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    reader = await make_user("reader", ["read:time_entries"])
    writer = await make_user("writer", ["write:time_entries"])
    entry = await new_entry(api, writer, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    path = f"{ENTRIES}/{entry['id']}"
    valid = {"project_id": project, "start_time": "2024-01-16T09:00:00Z"}
    before = await count_events()

    await error_body(await api.get(ENTRIES), 401, "unauthorized")
    await error_body(await api.post(ENTRIES, json=valid), 401, "unauthorized")
    await error_body(
        await api.delete(path, headers={"Authorization": "Bearer tt_" + "x" * 32}),
        401,
        "unauthorized",
    )
    denied = await error_body(
        await api.post(ENTRIES, json=valid, headers=reader.headers), 403, "forbidden"
    )
    assert denied["required_scope"] == "write:time_entries"
    assert denied["available_scopes"] == ["read:time_entries"]
    for method in ("PUT", "PATCH", "DELETE"):
        response = await api.request(method, path, json={"notes": "x"}, headers=reader.headers)
        await error_body(response, 403, "forbidden")
    await error_body(await api.get(path, headers=writer.headers), 403, "forbidden")
    await error_body(await api.get(f"{ENTRIES}/999", headers=admin.headers), 404, "not_found")
    for method in ("PUT", "PATCH", "DELETE"):
        response = await api.request(
            method, f"{ENTRIES}/999", json={"notes": "x"}, headers=admin.headers
        )
        await error_body(response, 404, "not_found")
    await error_body(
        await api.post(path, json=valid, headers=admin.headers), 405, "method_not_allowed"
    )
    await error_body(await api.delete(ENTRIES, headers=admin.headers), 405, "method_not_allowed")
    too_large = json.dumps({**valid, "notes": "x" * (1024 * 1024)}).encode()
    response = await api.post(
        ENTRIES,
        data=io.BytesIO(too_large),
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    await error_body(response, 413, "payload_too_large")
    assert await count_events() == before


async def test_an_admin_records_time_for_another_user_who_then_sees_it(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    alice = await make_user("alice", EVERYTHING)

    entry = await new_entry(
        api, admin, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z", user_id=alice.id
    )

    assert entry["user_id"] == alice.id
    assert [e["id"] for e in await listed_entries(api, alice)] == [entry["id"]]
    assert await listed_entries(api, admin, f"user_id={admin.id}") == []
    assert [e["id"] for e in await listed_entries(api, admin, f"user_id={alice.id}")] == [
        entry["id"]
    ]
    before = await count_events()
    unknown = await api.post(
        ENTRIES,
        json={
            "project_id": project,
            "start_time": "2024-01-15T09:00:00Z",
            "end_time": "2024-01-15T10:00:00Z",
            "user_id": 999,
        },
        headers=admin.headers,
    )
    assert list((await error_body(unknown, 400, "validation_error"))["errors"]) == ["user_id"]
    assert await count_events() == before


async def test_entries_lasting_for_decades_are_kept_and_the_read_models_go_on(
    api: TestClient, admin: ApiUser
) -> None:
    project = await new_project(api, admin)
    long_ago = "1950-01-01T00:00:00Z"

    century = await new_entry(api, admin, project, long_ago, "2050-01-01T00:00:00Z")
    running = await new_entry(api, admin, project, long_ago, None)
    stopped = await api.patch(
        f"{ENTRIES}/{running['id']}",
        json={"end_time": "2199-12-31T23:59:59Z"},
        headers=admin.headers,
    )
    after = await new_entry(api, admin, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")

    def span(start: datetime, end: datetime) -> int:
        return int((end - start).total_seconds())

    seconds = span(datetime(1950, 1, 1, tzinfo=UTC), datetime(2050, 1, 1, tzinfo=UTC))
    longest = span(datetime(1950, 1, 1, tzinfo=UTC), datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert longest > 2**32  # beyond a 32-bit integer
    assert (century["duration_seconds"], century["duration_hours"]) == (seconds, 876600.0)
    assert stopped.status == 200, await stopped.text()
    assert (await stopped.json())["time_entry"]["duration_seconds"] == longest
    listed = await listed_entries(api, admin)
    assert [e["id"] for e in listed] == [
        after["id"],
        running["id"],
        century["id"],
    ]  # same start: id
    report = await get_json(
        api, "/api/v1/reports/summary?start_date=1950-01-01&end_date=1950-01-01", admin
    )
    assert report["summary"]["total_hours"] == round((seconds + longest) / 3600, 2)
