"""The token cache: entries, their bounds, and the revocations that empty it."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from datetime import UTC, datetime, timedelta

import psycopg

from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import RevokeApiToken
from timetracker.http.caller import Caller
from timetracker.http.settings import Settings
from timetracker.http.token_cache import TokenCache
from timetracker.ops.accounts import issue_token, operator_stamp, register_user
from timetracker.projections.accounts import AccountsProjection, Revocations
from timetracker.projections.base import Projection
from timetracker.projections.engine.runner import ProjectionRunner

ALICE = Caller(1, "alice", "user", 7, "tt_abcde", ("read:*",))


async def listening(settings: Settings) -> tuple[TokenCache, asyncio.Task[None]]:
    cache = TokenCache()
    task = asyncio.create_task(cache.listen(settings.conninfo))
    for _ in range(200):
        if cache.listening:
            return cache, task
        await asyncio.sleep(0.05)
    raise AssertionError("the token cache never listened")


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_an_entry_is_served_until_its_ttl_or_its_expiry(settings: Settings) -> None:
    cache, task = await listening(settings)
    try:
        cache.put("h1", ALICE, None, cache.generation())
        assert cache.get("h1") is ALICE

        soon = datetime.now(UTC) + timedelta(milliseconds=200)
        cache.put("h2", ALICE, soon, cache.generation())
        assert cache.get("h2") is ALICE
        await asyncio.sleep(0.3)
        assert cache.get("h2") is None  # the token expired: looked up again

        cache.ttl = 0.1
        await asyncio.sleep(0.2)
        assert cache.get("h1") is None  # older than the TTL
    finally:
        await stop(task)


async def test_nothing_is_cached_while_not_listening() -> None:
    cache = TokenCache()
    cache.put("h", ALICE, None, cache.generation())
    assert cache.get("h") is None


async def test_a_lookup_made_before_a_revocation_is_not_kept(settings: Settings) -> None:
    cache, task = await listening(settings)
    try:
        before = cache.generation()
        Revocations.bump()  # a runner in this process applied a revocation meanwhile
        cache.put("h", ALICE, None, before)
        assert cache.get("h") is None
    finally:
        await stop(task)


def _revoke_in_another_process(conninfo: str, env: dict[str, str], token_id: int) -> None:
    store = TimeTracking(env)
    try:
        written = store.revoke_api_token(RevokeApiToken(token_id, operator_stamp()))
        assert written.position is not None
        runner = ProjectionRunner(store, AccountsProjection(), conninfo)
        try:
            runner.catch_up()
        finally:
            runner.close()
    finally:
        store.close()


async def test_a_revocation_applied_by_another_process_empties_the_cache(
    settings: Settings, store: TimeTracking, projections: list[Projection]
) -> None:
    register_user(store, "alice", None, None, admin=False)
    issued = issue_token(store, "alice", ["read:*"], "t", None)
    cache, task = await listening(settings)
    try:
        cache.put("h", ALICE, None, cache.generation())
        assert cache.get("h") is ALICE
        context = multiprocessing.get_context("spawn")
        child = context.Process(
            target=_revoke_in_another_process,
            args=(settings.conninfo, settings.event_store_env(), issued.id),
        )
        child.start()
        await asyncio.get_running_loop().run_in_executor(None, child.join, 60)
        assert child.exitcode == 0
        # The NOTIFY was sent when the revocation committed, before the process ended.
        for _ in range(100):
            if cache.get("h") is None:
                break
            await asyncio.sleep(0.01)
        assert cache.get("h") is None
    finally:
        await stop(task)


async def test_a_lost_listener_turns_the_cache_off_until_it_is_back(settings: Settings) -> None:
    cache, task = await listening(settings)
    try:
        cache.put("h", ALICE, None, cache.generation())
        with psycopg.connect(settings.conninfo, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
            )
        for _ in range(100):
            if not cache.listening:
                break
            await asyncio.sleep(0.01)
        assert cache.get("h") is None
        cache.put("h", ALICE, None, cache.generation())  # not kept while not listening
        assert cache.get("h") is None
        for _ in range(100):
            if cache.listening:
                break
            await asyncio.sleep(0.05)
        assert cache.listening
        cache.put("h", ALICE, None, cache.generation())
        assert cache.get("h") is ALICE
    finally:
        await stop(task)
