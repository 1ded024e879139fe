"""Rebuilds started through the admin API: run in a background thread, progress in a table.

Progress is written to PostgreSQL, so any process of the service can report on a job,
whichever process runs it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg.rows import dict_row

from timetracker.projections.engine.rebuild import Rebuilt, rebuild, rebuild_redis
from timetracker.projections.engine.runner import SCHEMA_LOCK_KEY
from timetracker.projections.registry import all_projections, redis_projections

log = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 0.5
CREATE_JOBS_TABLE = """
CREATE TABLE IF NOT EXISTS projection_rebuild_jobs (
    id serial PRIMARY KEY,
    name text NOT NULL,
    state text NOT NULL,
    done bigint NOT NULL DEFAULT 0,
    total bigint NOT NULL DEFAULT 0,
    events_per_second double precision,
    error text,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
)
"""
SHUTDOWN_WAIT_SECONDS = 30.0
STALE_AFTER = "5 minutes"  # a running job silent this long died with its process


class RebuildJobs:
    """Starts rebuild jobs and reads their progress."""

    def __init__(
        self, store: Application[Any], conninfo: str, redis_url: str | None, prefix: str
    ) -> None:
        self.store = store
        self.conninfo = conninfo
        self.redis_url = redis_url
        self.prefix = prefix
        self._threads: list[threading.Thread] = []

    def create_table(self) -> None:
        """Create the jobs table if it is missing."""
        with psycopg.connect(self.conninfo) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            conn.execute(CREATE_JOBS_TABLE)

    def start(self, name: str) -> dict[str, Any]:
        """Start rebuilding `name` in the background; the new job (409-worthy if one runs)."""
        with psycopg.connect(self.conninfo, row_factory=dict_row) as conn, conn.transaction():
            conn.execute("LOCK TABLE projection_rebuild_jobs IN EXCLUSIVE MODE")
            conn.execute(
                "UPDATE projection_rebuild_jobs SET state = 'abandoned', finished_at = now()"
                f" WHERE state = 'running' AND updated_at < now() - interval '{STALE_AFTER}'"
            )
            running = conn.execute(
                "SELECT id FROM projection_rebuild_jobs WHERE name = %s AND state = 'running'",
                (name,),
            ).fetchone()
            if running is not None:
                raise RebuildRunningError(f"A rebuild of {name} is running (job {running['id']}).")
            job = conn.execute(
                "INSERT INTO projection_rebuild_jobs (name, state) VALUES (%s, 'running')"
                " RETURNING *",
                (name,),
            ).fetchone()
        assert job is not None
        thread = threading.Thread(
            target=self._run, args=(job["id"], name), name=f"rebuild-{name}", daemon=True
        )
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        return dict(job)

    def wait(self, timeout: float = SHUTDOWN_WAIT_SECONDS) -> None:
        """Let running jobs finish (at shutdown, before the event store closes); a job still
        running after `timeout` is left to be marked abandoned later."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def latest(self, name: str) -> dict[str, Any] | None:
        """The most recent job of a projection, or None."""
        with psycopg.connect(self.conninfo, row_factory=dict_row) as conn:
            row = conn.execute(
                "SELECT * FROM projection_rebuild_jobs WHERE name = %s ORDER BY id DESC LIMIT 1",
                (name,),
            ).fetchone()
        return None if row is None else dict(row)

    def _progress(self, job_id: int) -> Callable[[int, int], None]:
        saved = [0.0]

        def save(done: int, total: int) -> None:
            now = time.monotonic()
            if now - saved[0] < SAVE_EVERY_SECONDS and done < total:
                return
            saved[0] = now
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                conn.execute(
                    "UPDATE projection_rebuild_jobs SET done = %s, total = %s, updated_at = now()"
                    " WHERE id = %s",
                    (done, total, job_id),
                )

        return save

    def _run(self, job_id: int, name: str) -> None:
        progress = self._progress(job_id)
        try:
            result = self._rebuild(name, progress)
        except Exception as exc:
            log.exception("Rebuild job %s of %s failed", job_id, name)
            self._finish(job_id, "failed", None, str(exc))
            return
        self._finish(job_id, "done", result, None)

    def _rebuild(self, name: str, progress: Callable[[int, int], None]) -> Rebuilt:
        for projection in all_projections():
            if projection.name == name:
                return rebuild(self.store, projection, self.conninfo, progress)
        for redis_projection in redis_projections():
            if redis_projection.name == name:
                assert self.redis_url is not None
                return rebuild_redis(
                    self.store, redis_projection, self.redis_url, self.prefix, progress
                )
        raise LookupError(name)

    def _finish(self, job_id: int, state: str, result: Rebuilt | None, error: str | None) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(
                "UPDATE projection_rebuild_jobs SET state = %s, error = %s, finished_at = now(),"
                " events_per_second = %s, done = CASE WHEN %s THEN total ELSE done END"
                " WHERE id = %s",
                (state, error, result.rate if result else None, state == "done", job_id),
            )


class RebuildRunningError(RuntimeError):
    """A rebuild of the same projection is already running."""
