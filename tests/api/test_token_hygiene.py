"""Tokens: only hashes are stored, and use is noted at most once a minute."""

from __future__ import annotations

import asyncio

import psycopg
import redis
from aiohttp.test_utils import TestClient
from psycopg import sql

from tests.api.conftest import ApiUser, MakeUser
from tests.conftest import REDIS_URL
from timetracker.http.settings import Settings


def _everything_in_postgres(conninfo: str) -> str:
    """Every row of every table (events, read models, ...) as text."""
    with psycopg.connect(conninfo) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        dump = []
        for table in tables:
            query = sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table))
            dump += [row[0] for row in conn.execute(query).fetchall()]
            # event and snapshot states are bytea: decode them too
            columns = conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = %s AND data_type = 'bytea'",
                (table,),
            ).fetchall()
            for (column,) in columns:
                query = sql.SQL("SELECT {} FROM {}").format(
                    sql.Identifier(column), sql.Identifier(table)
                )
                dump += [bytes(row[0]).decode("utf-8", "replace") for row in conn.execute(query)]
    return "\n".join(dump)


def _everything_in_redis(prefix: str) -> str:
    client = redis.Redis.from_url(REDIS_URL)
    dump = []
    for key in client.scan_iter(match=f"{prefix}*"):
        dump.append(key.decode())
        dump.append(repr(client.dump(key)))
    client.close()
    return "\n".join(dump)


async def test_no_token_appears_in_plain_text_anywhere(
    api: TestClient, make_user: MakeUser, settings: Settings
) -> None:
    users = [await make_user(f"user{n}", ["read:*", "write:*"]) for n in range(5)]
    for user in users:  # use each token, so usage and limits are recorded too
        assert (await api.get("/api/v1/users/me", headers=user.headers)).status == 200
        created = await api.post(
            "/api/v1/clients", json={"name": user.username}, headers=user.headers
        )
        assert created.status == 201
    postgres = _everything_in_postgres(settings.conninfo)
    stored = _everything_in_redis(settings.redis_prefix)
    assert "Issued" in postgres and "user4" in postgres  # the dump does see the events
    for user in users:
        secret = user.token[3:]
        assert secret not in postgres
        assert secret not in stored


async def test_token_use_is_noted_at_most_once_a_minute(
    api: TestClient, admin: ApiUser, settings: Settings
) -> None:
    async def noted() -> list[tuple[int, object]]:
        async with await psycopg.AsyncConnection.connect(settings.conninfo) as conn:
            cursor = await conn.execute("SELECT token_id, last_used_at FROM token_usage")
            return list(await cursor.fetchall())

    await api.get("/api/v1/users/me", headers=admin.headers)
    first = await noted()
    assert len(first) == 1
    for _ in range(20):
        await api.get("/api/v1/users/me", headers=admin.headers)
    await asyncio.sleep(0.05)
    assert await noted() == first
