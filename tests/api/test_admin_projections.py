"""Operators on the read models over HTTP: status, and rebuilds while the API serves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import psycopg
import redis
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser
from tests.api.helpers import error_body
from tests.api.test_rate_limits import _user
from tests.conftest import REDIS_URL
from timetracker.http.keys import settings_key, time_tracking_key
from timetracker.http.settings import Settings
from timetracker.projections.engine.service import ProjectionService
from timetracker.projections.engine.verify import verify, verify_redis
from timetracker.projections.registry import all_projections, redis_projections

ApiWith = Callable[..., Awaitable[TestClient]]
NAMES = [p.name for p in all_projections()] + [p.name for p in redis_projections()]


async def _project(api: TestClient, admin: ApiUser) -> int:
    response = await api.post("/api/v1/projects", json={"name": "Ops"}, headers=admin.headers)
    assert response.status == 201
    return int((await response.json())["project"]["id"])


async def _entry(api: TestClient, user: ApiUser, project: int, hour: int) -> None:
    response = await api.post(
        "/api/v1/time-entries",
        json={
            "project_id": project,
            "start_time": f"2024-02-01T{hour % 24:02d}:00:00Z",
            "end_time": f"2024-02-01T{hour % 24:02d}:30:00Z",
        },
        headers=user.headers,
    )
    assert response.status == 201, await response.text()


async def test_admins_see_every_read_models_position_and_state(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    await _project(api, admin)
    body = await (await api.get("/api/v1/admin/projections", headers=admin.headers)).json()
    rows = {row["name"]: row for row in body["projections"]}
    assert sorted(rows) == sorted(NAMES)
    head = rows["projects"]["head"]
    for row in rows.values():
        assert row["position"] == head
        assert row["lag_events"] == 0
        assert row["lag_seconds"] == 0.0
        assert row["state"] == "running"
    normal = await make_user("normal", ["admin:all"])
    await error_body(
        await api.get("/api/v1/admin/projections", headers=normal.headers), 403, "forbidden"
    )


async def test_a_rebuild_under_load_fails_no_request_and_matches_a_fresh_replay(
    api: TestClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> None:
    project = await _project(api, admin)
    worker = await make_user("worker", ["read:*", "write:*"])
    for hour in range(40):
        await _entry(api, worker, project, hour)
    failures: list[str] = []
    stop = asyncio.Event()

    async def keep_busy() -> None:
        hour = 100
        while not stop.is_set():
            hour += 1
            for response in (
                await api.get("/api/v1/time-entries?per_page=100", headers=worker.headers),
                await api.get(
                    "/api/v1/reports/summary?start_date=2024-02-01&end_date=2024-02-01",
                    headers=worker.headers,
                ),
            ):
                if response.status != 200:
                    failures.append(f"{response.status} {await response.text()}")
            await _entry(api, worker, project, hour)

    busy = asyncio.create_task(keep_busy())
    try:
        for name in ("time_entries", "report_rollups", "projects"):
            started = await api.post(
                f"/api/v1/admin/projections/{name}/rebuild", headers=admin.headers
            )
            assert started.status == 202, await started.text()
            assert started.headers["Location"] == f"/api/v1/admin/projections/{name}/rebuild"
            for _ in range(300):
                job = (
                    await (await api.get(started.headers["Location"], headers=admin.headers)).json()
                )["job"]
                if job["state"] != "running":
                    break
                await asyncio.sleep(0.05)
            assert job["state"] == "done", job
            assert job["done"] == job["total"] > 0
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await busy
    assert failures == []
    store = api.app[time_tracking_key]
    loop = asyncio.get_running_loop()
    for projection in all_projections():
        checked = await loop.run_in_executor(None, verify, store, projection, settings.conninfo)
        assert checked.ok, checked.mismatches
    for redis_projection in redis_projections():
        checked = await loop.run_in_executor(
            None, verify_redis, store, redis_projection, REDIS_URL, settings.redis_prefix
        )
        assert checked.ok, checked.mismatches
    listed = await (
        await api.get("/api/v1/time-entries?per_page=100", headers=worker.headers)
    ).json()
    report = await (
        await api.get(
            "/api/v1/reports/summary?start_date=2024-02-01&end_date=2024-02-01",
            headers=worker.headers,
        )
    ).json()
    assert report["summary"]["total_entries"] == listed["pagination"]["total"]


async def test_a_second_rebuild_of_the_same_read_model_is_refused_while_one_runs(
    api: TestClient, admin: ApiUser, settings: Settings
) -> None:
    rebuild = "/api/v1/admin/projections/projects/rebuild"
    # A read holding the live view keeps the first rebuild from switching (it yields and
    # tries again), so it is certainly still running when the second request comes.
    async with await psycopg.AsyncConnection.connect(settings.conninfo) as holder:
        await holder.execute("SELECT count(*) FROM projects")
        first = await api.post(rebuild, headers=admin.headers)
        assert first.status == 202, await first.text()
        second = await api.post(rebuild, headers=admin.headers)
        await error_body(second, 409, "rebuild_running")
        await holder.rollback()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        job = (await (await api.get(rebuild, headers=admin.headers)).json())["job"]
        if job["state"] != "running":
            break
        assert loop.time() < deadline, job
        await asyncio.sleep(0.05)
    assert job["state"] == "done", job
    third = await api.post(rebuild, headers=admin.headers)  # free again once it is done
    assert third.status == 202, await third.text()
    unknown = await api.post("/api/v1/admin/projections/nope/rebuild", headers=admin.headers)
    await error_body(unknown, 400, "validation_error")


async def test_after_redis_loses_its_data_the_timer_answers_503_until_rebuilt_reports_stand(
    api_with: ApiWith, settings: Settings
) -> None:
    api = await api_with(run_projections=False)
    store = api.app[time_tracking_key]
    service = ProjectionService(
        store,
        all_projections(),
        settings.conninfo,
        redis_projections=redis_projections(),
        redis_url=REDIS_URL,
        redis_prefix=settings.redis_prefix,
    )
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, service.start)
    try:
        boss = await _user(api, "boss", ["read:*", "write:*"])
        project = await _project(api, boss)
        for hour in range(6):
            await _entry(api, boss, project, hour)
        path = "/api/v1/reports/summary?start_date=2024-02-01&end_date=2024-02-01"
        before = await (await api.get(path, headers=boss.headers)).json()
        assert before["summary"]["total_entries"] == 6
    finally:
        await loop.run_in_executor(None, service.stop)

    prefix = api.app[settings_key].redis_prefix
    client = redis.Redis.from_url(REDIS_URL)
    lost = list(client.scan_iter(match=f"{prefix}*"))
    client.delete(*lost)  # what FLUSHALL does, to this test's keys only
    client.close()
    # The summary sums the report_groups read model in PostgreSQL: it stands.
    still = await api.get(path, headers=boss.headers)
    assert still.status == 200 and await still.json() == before
    timer = await api.get("/api/v1/timer/status", headers=boss.headers)
    body = await error_body(timer, 503, "read_model_unavailable")
    assert timer.headers["Retry-After"]
    assert "rebuilt" in body["message"]

    restarted = ProjectionService(
        store,
        all_projections(),
        settings.conninfo,
        redis_projections=redis_projections(),
        redis_url=REDIS_URL,
        redis_prefix=settings.redis_prefix,
    )
    await loop.run_in_executor(None, restarted.start)
    try:
        for _ in range(100):
            again = await api.get("/api/v1/timer/status", headers=boss.headers)
            if again.status == 200:
                break
            await error_body(again, 503, "read_model_unavailable")  # never a wrong answer
            await asyncio.sleep(0.05)
        assert await again.json() == {"active": False, "timer": None}
        assert await (await api.get(path, headers=boss.headers)).json() == before
    finally:
        await loop.run_in_executor(None, restarted.stop)
