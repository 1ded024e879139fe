"""News of read-model positions: PostgreSQL NOTIFYs every change of a tracked position, a
live Redis runner PUBLISHes each batch's, and a serving process answers from what it heard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolClosed
from redis.asyncio import Redis

from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import CreateClient
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.projections.base import Projection
from timetracker.projections.engine import tracking
from timetracker.projections.engine.freshness import Freshness
from timetracker.projections.engine.position_news import PositionNews
from timetracker.projections.engine.redis_runner import RedisProjectionRunner
from timetracker.projections.engine.service import ProjectionService
from timetracker.projections.running_timers import RunningTimersProjection

pytestmark = pytest.mark.integration


def _execute(conninfo: str, statement: str, *params: object) -> None:
    with psycopg.connect(conninfo) as conn:
        conn.execute(statement, params)  # type: ignore[arg-type]


def _roll_back(conninfo: str, statement: str) -> None:
    with psycopg.connect(conninfo) as conn:
        conn.execute(statement)  # type: ignore[arg-type]
        conn.rollback()


async def _until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "no news came"
        await asyncio.sleep(0.01)


@pytest.fixture
async def news(settings: Settings) -> AsyncIterator[tuple[PositionNews, list[tuple[str, int]]]]:
    """Position news for the test's database and Redis prefix, listening; what it heard."""
    assert settings.redis_url is not None
    heard: list[tuple[str, int]] = []
    listener = PositionNews(
        settings.conninfo,
        settings.redis_url,
        settings.redis_prefix,
        lambda name, position: heard.append((name, position)),
    )
    listener.start()
    try:
        await _until(lambda: listener.listening and listener.subscribed)
        yield listener, heard
    finally:
        await listener.stop()


@pytest.fixture
async def freshness(
    projections: list[Projection], settings: Settings
) -> AsyncIterator[tuple[Freshness, AsyncConnectionPool]]:
    """A serving process's view of the positions, listening for news; its read pool."""
    assert settings.redis_url is not None
    pool: AsyncConnectionPool = AsyncConnectionPool(
        settings.conninfo,
        min_size=1,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
    )
    await pool.open(wait=True)
    redis = Redis.from_url(settings.redis_url)
    view = Freshness(pool, redis, settings.redis_prefix)
    view.listen(settings.conninfo, settings.redis_url)
    try:
        await _until(lambda: view.news is not None and view.news.listening)
        yield view, pool
    finally:
        await view.close()
        await redis.aclose()
        await pool.close()


async def test_every_change_of_a_tracked_position_is_heard_when_it_commits(
    projections: list[Projection],
    settings: Settings,
    news: tuple[PositionNews, list[tuple[str, int]]],
) -> None:
    listener, heard = news
    conninfo = settings.conninfo
    await asyncio.to_thread(
        _execute, conninfo, "UPDATE projection_tracking SET position = 7 WHERE name = 'clients'"
    )
    await _until(lambda: listener.postgres.get("clients") == 7)
    # a rolled-back change says nothing
    await asyncio.to_thread(_roll_back, conninfo, "UPDATE projection_tracking SET position = 9")
    await asyncio.to_thread(
        _execute, conninfo, "INSERT INTO projection_tracking (name) VALUES ('x')"
    )
    await _until(lambda: listener.postgres.get("x") == 0)
    await asyncio.to_thread(
        _execute, conninfo, "UPDATE projection_tracking SET position = 3 WHERE name = 'clients'"
    )  # positions may go back (a reset, a restore): the news says so
    await asyncio.to_thread(_execute, conninfo, "DELETE FROM projection_tracking WHERE name = 'x'")
    await _until(lambda: len(heard) == 4)
    assert heard == [("clients", 7), ("x", 0), ("clients", 3), ("x", 0)]


async def test_positions_read_from_the_database_never_replace_news(
    projections: list[Projection], news: tuple[PositionNews, list[tuple[str, int]]]
) -> None:
    listener, _ = news
    listener.postgres["clients"] = 5
    listener.keep({"clients": 3, "projects": 2}, listener.epoch)
    assert listener.postgres == {"clients": 5, "projects": 2}
    # read while an earlier listening connection was up: news may have been missed since
    listener.keep({"accounts": 1}, listener.epoch - 1)
    assert "accounts" not in listener.postgres


async def test_a_serving_process_answers_positions_from_news_without_a_query(
    freshness: tuple[Freshness, AsyncConnectionPool], settings: Settings
) -> None:
    view, pool = freshness
    assert view.news is not None
    news = view.news
    assert await view.positions(["clients", "projects"]) == {"clients": 0, "projects": 0}
    await asyncio.to_thread(
        _execute,
        settings.conninfo,
        "UPDATE projection_tracking SET position = 4 WHERE name = 'clients'",
    )
    await _until(lambda: news.postgres["clients"] == 4)
    await pool.close()  # from here on, any query would fail
    assert await view.positions(["clients", "projects"]) == {"clients": 4, "projects": 0}
    # beside a Redis read model (asked of Redis), still without a query
    mixed = await view.positions(["clients", "running_timers"])
    assert mixed["clients"] == 4 and "running_timers" in mixed
    assert await view.wait_for(["clients"], 4, timeout=0.1)
    with pytest.raises(PoolClosed):
        await view.positions(["clients"], heard=False)


async def test_what_is_kept_per_position_is_forgotten_when_a_read_model_is_rewritten(
    freshness: tuple[Freshness, AsyncConnectionPool], settings: Settings
) -> None:
    view, _ = freshness
    forgotten: list[str] = []
    view.on_rewritten("clients", lambda: forgotten.append("clients"))
    forgets: list[int] = []
    for marker, (name, position) in enumerate(
        [
            ("clients", 4),  # first news on this listening connection: earlier news may be lost
            ("clients", 6),  # moving forward
            ("projects", 6),  # another read model
            ("clients", 6),  # a rebuild's switch at the same position
            ("clients", 0),  # a restore registers it again
            ("clients", 3),
        ],
        start=1,
    ):
        before = len(forgotten)
        for statement, values in [
            ("UPDATE projection_tracking SET position = %s WHERE name = %s", (position, name)),
            # news comes in commit order: once this is heard, the change above has been
            ("UPDATE projection_tracking SET position = %s WHERE name = 'accounts'", (marker,)),
        ]:
            await asyncio.to_thread(_execute, settings.conninfo, statement, *values)
        await _until(lambda m=marker: view._heard.get("accounts") == m)  # type: ignore[misc]
        forgets.append(len(forgotten) - before)
    assert forgets == [1, 0, 0, 1, 1, 0]


async def test_positions_that_keep_answers_are_never_behind_a_write_answered_anywhere(
    freshness: tuple[Freshness, AsyncConnectionPool], settings: Settings
) -> None:
    view, _ = freshness
    assert view.news is not None
    news = view.news
    await asyncio.to_thread(
        _execute,
        settings.conninfo,
        "UPDATE projection_tracking SET position = 9 WHERE name = 'clients'",
    )
    await _until(lambda: news.postgres.get("clients") == 9)
    news.postgres["clients"] = 5  # as if news of the last batch were still on its way
    await view.answering(4)  # another process answered a write at 4: heard covers it
    assert await view.covering(["clients"]) == {"clients": 5}
    await view.answering(9)  # ... and one at 9: the database is asked
    assert await view.covering(["clients"]) == {"clients": 9}
    await view.answering(3)  # the highest answered write never goes back
    redis = Redis.from_url(str(settings.redis_url))
    try:
        assert await redis.get(f"{settings.redis_prefix}answered") == b"9"
    finally:
        await redis.aclose()
    # with a Redis read model: one round trip for both
    both = await view.covering(["clients", "running_timers"])
    assert both["clients"] == 9 and "running_timers" in both


async def test_a_wait_ends_on_a_position_the_news_shows_not_before(
    freshness: tuple[Freshness, AsyncConnectionPool], settings: Settings
) -> None:
    view, _ = freshness
    assert await view.positions(["clients"]) == {"clients": 0}
    # A runner of this process has committed a batch; its NOTIFY is still on the way.
    loop = asyncio.get_running_loop()
    view.advance_notifier(loop)("clients", 6)
    delivered = loop.create_future()  # scheduled after the notice: it has run once this has
    loop.call_soon_threadsafe(delivered.set_result, None)
    await delivered
    assert not await view.wait_for(["clients"], 6, timeout=0.05)
    await asyncio.to_thread(
        _execute,
        settings.conninfo,
        "UPDATE projection_tracking SET position = 6 WHERE name = 'clients'",
    )
    assert await view.wait_for(["clients"], 6, timeout=5.0)
    assert await view.positions(["clients"]) == {"clients": 6}


def _stamp() -> Stamp:
    return Stamp(at=datetime.now(UTC), user_id=None, request_id="news")


async def test_a_live_redis_runner_publishes_the_position_of_each_batch(
    store: TimeTracking,
    settings: Settings,
    news: tuple[PositionNews, list[tuple[str, int]]],
) -> None:
    assert settings.redis_url is not None
    _, heard = news
    written = store.create_client(CreateClient({"name": "Acme"}, _stamp()))
    runner = RedisProjectionRunner(
        store, RunningTimersProjection(), settings.redis_url, settings.redis_prefix
    )
    try:
        await asyncio.to_thread(runner.catch_up)
    finally:
        runner.close()
    await _until(lambda: (RunningTimersProjection.name, written.position) in heard)
    # a build that is not the live one says nothing
    heard.clear()
    rebuild = RedisProjectionRunner(
        store, RunningTimersProjection(), settings.redis_url, settings.redis_prefix, generation=9
    )
    try:
        await asyncio.to_thread(rebuild.catch_up)
    finally:
        rebuild.close()
    # Proved by what comes next: a later batch of the live build is heard, and nothing of
    # the rebuild's came before it (Redis delivers a channel's messages in order).
    later = store.create_client(CreateClient({"name": "Later"}, _stamp()))
    runner = RedisProjectionRunner(
        store, RunningTimersProjection(), settings.redis_url, settings.redis_prefix
    )
    try:
        await asyncio.to_thread(runner.catch_up)
    finally:
        runner.close()
    await _until(lambda: (RunningTimersProjection.name, later.position) in heard)
    assert heard == [(RunningTimersProjection.name, later.position)]


async def test_a_write_hears_that_another_process_applied_it(
    store: TimeTracking,
    projections: list[Projection],
    settings: Settings,
    freshness: tuple[Freshness, AsyncConnectionPool],
) -> None:
    """Runners elsewhere (no report in this process): the wait ends on the NOTIFY."""
    view, _ = freshness
    service = ProjectionService(store, projections, settings.conninfo)
    await asyncio.to_thread(service.start)
    try:
        for n in range(5):
            written = await asyncio.to_thread(
                store.create_client, CreateClient({"name": f"Client {n}"}, _stamp())
            )
            assert written.position is not None
            assert await view.wait_for(["clients"], written.position, timeout=5.0)
            assert view._heard["clients"] >= written.position  # heard, not polled
    finally:
        await asyncio.to_thread(service.stop)


def test_the_tracking_trigger_is_created_with_the_schema(
    projections: list[Projection], settings: Settings
) -> None:
    with psycopg.connect(settings.conninfo) as conn:
        found = conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'projection_tracking'::regclass"
            " AND NOT tgisinternal"
        ).fetchall()
    assert ("projection_tracking_notify",) in found
    assert tracking.POSITIONS_CHANNEL == "projection_positions"
