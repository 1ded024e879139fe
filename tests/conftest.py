"""Fixtures shared by every test: a PostgreSQL database and a Redis keyspace of this run's own.

The services come from TEST_DATABASE_URL and TEST_REDIS_URL (defaults: the machine's local
PostgreSQL and Redis). A missing service fails the tests that need it, loudly: nothing is faked.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from timetracker.http.settings import Settings

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _url_with_dbname(url: str, dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under api/ and integration/ need PostgreSQL and Redis: mark them so."""
    for item in items:
        parts = item.path.parts
        if "api" in parts or "integration" in parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database created for this test run, dropped at its end."""
    name = f"tt_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}", pytrace=False)
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _url_with_dbname(ADMIN_URL, name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    """A key prefix of this run's own; its keys are deleted at the end."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}", pytrace=False)
    prefix = f"tt-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def clean_database(database_url: str) -> str:
    """The test database, emptied: no events, no read models, ids starting at 1."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = 'public' OR nspname LIKE 'rm\\_%'"
        ).fetchall()
        for (schema,) in schemas:  # public, and each read-model generation's schema
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        conn.execute("CREATE SCHEMA public")
    return database_url


@pytest.fixture
def settings(clean_database: str, redis_prefix: str, tmp_path: Path) -> Settings:
    """Settings pointing at the emptied test database and a Redis keyspace of the test's own.

    Redis read models record their log position in Redis: a keyspace left over from an
    earlier test would claim positions the emptied store has not reached yet. Backups go
    to the test's own folder.
    """
    return Settings(
        database_url=clean_database,
        redis_url=REDIS_URL,
        redis_prefix=f"{redis_prefix}{uuid.uuid4().hex[:8]}:",
        backup_dir=tmp_path / "backups",
        # Off unless a test is about them: most tests send many requests with one token.
        rate_limit_per_minute=0,
        rate_limit_per_hour=0,
        db_pool_size=4,
        db_max_overflow=2,
        read_pool_size=4,
    )
