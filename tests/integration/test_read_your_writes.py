"""Waiting for a read model: `tracking.wait_for`, and the service that keeps it moving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import CreateClient, CreateProject
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.projections.base import Projection
from timetracker.projections.engine.service import ProjectionService
from timetracker.projections.engine.tracking import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def read_pool(settings: Settings) -> AsyncIterator[AsyncConnectionPool]:
    """A read pool configured as the API's (autocommit, rows as dicts)."""
    pool: AsyncConnectionPool = AsyncConnectionPool(
        settings.conninfo,
        min_size=1,
        max_size=3,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
    )
    await pool.open(wait=True, timeout=10)
    yield pool
    await pool.close()


def move(conninfo: str, name: str, position: int) -> None:
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "UPDATE projection_tracking SET position = %s WHERE name = %s", (position, name)
        )


def stamp() -> Stamp:
    return Stamp(at=datetime.now(UTC), user_id=None, request_id="ryw")


async def test_wait_for_is_true_when_every_projection_has_applied_the_position(
    read_pool: AsyncConnectionPool, projections: list[Projection], settings: Settings
) -> None:
    move(settings.conninfo, "accounts", 5)
    move(settings.conninfo, "clients", 7)
    assert await wait_for(read_pool, ["accounts", "clients"], 5, 1.0) is True


async def test_wait_for_is_false_after_its_timeout_when_one_projection_is_behind(
    read_pool: AsyncConnectionPool, projections: list[Projection], settings: Settings
) -> None:
    move(settings.conninfo, "accounts", 5)
    move(settings.conninfo, "clients", 7)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await wait_for(read_pool, ["accounts", "clients"], 6, 0.2) is False
    assert loop.time() - started >= 0.2


async def test_wait_for_an_untracked_projection_is_false(
    read_pool: AsyncConnectionPool, projections: list[Projection]
) -> None:
    assert await wait_for(read_pool, ["no_such_projection"], 0, 0.05) is False


async def test_wait_for_sees_a_position_applied_while_it_waits(
    read_pool: AsyncConnectionPool, projections: list[Projection], settings: Settings
) -> None:
    waiting = asyncio.create_task(wait_for(read_pool, ["projects"], 3, 10.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await asyncio.to_thread(move, settings.conninfo, "projects", 3)
    assert await waiting is True


async def test_the_projection_service_follows_each_new_event_within_a_second(
    read_pool: AsyncConnectionPool,
    store: TimeTracking,
    projections: list[Projection],
    settings: Settings,
) -> None:
    service = ProjectionService(store, projections, settings.conninfo)
    await asyncio.to_thread(service.start)
    try:
        names = [p.name for p in projections]
        for i in range(6):
            written = await asyncio.to_thread(
                store.create_client, CreateClient({"name": f"Client {i}"}, stamp())
            )
            assert written.position is not None
            # Idle runners poll once a second; 0.4 s is met (six times) only when the
            # store's NOTIFY wakes them.
            assert await wait_for(read_pool, names, written.position, 0.4), f"write {i}"
            async with read_pool.connection() as conn:
                row = await (
                    await conn.execute("SELECT name FROM clients WHERE id = %s", (written.id,))
                ).fetchone()
            assert row == {"name": f"Client {i}"}
        written = await asyncio.to_thread(
            store.create_project, CreateProject({"name": "Website", "client_id": 1}, stamp())
        )
        assert written.position is not None
        assert await wait_for(read_pool, ["projects"], written.position, 1.0)
    finally:
        await asyncio.to_thread(service.stop)
