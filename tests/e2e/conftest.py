"""A `timetracker serve` process on the test PostgreSQL database and Redis keyspace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.service import Server, service_env
from timetracker.http.settings import Settings


@pytest.fixture
def configured_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The environment of a service on the emptied test database and this run's Redis keys."""
    assert settings.redis_url is not None
    return service_env(
        DATABASE_URL=settings.conninfo,
        REDIS_URL=settings.redis_url,
        REDIS_PREFIX=settings.redis_prefix,
        # Where embedded services would go; nothing must appear there.
        TIMETRACKER_DATA_DIR=str(tmp_path / "embedded"),
    )


@pytest.fixture
def server(configured_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    """`timetracker serve`, started and healthy; stopped (killed if need be) afterwards."""
    running = Server(configured_env, tmp_path)
    try:
        running.start()
        yield running
    finally:
        running.kill()
