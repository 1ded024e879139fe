"""Backups, restores (and imports) started through the admin API: background threads,
progress in a table.

Progress is written to PostgreSQL, so any process of the service can report on a job,
whichever process runs it. One job runs at a time: a backup is a long read, a restore
replaces everything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from timetracker.backups.archive import create_backup
from timetracker.backups.directory import BackupDirectory
from timetracker.backups.restore import RestorePlan, Restorer

log = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 0.5
STALE_AFTER = "5 minutes"  # a running job silent this long died with its process
JOBS_LOCK_KEY = 7_410_103
CREATE_JOBS_TABLE = """
CREATE TABLE IF NOT EXISTS backup_jobs (
    id serial PRIMARY KEY,
    kind text NOT NULL,
    state text NOT NULL,
    phase text,
    done bigint NOT NULL DEFAULT 0,
    total bigint NOT NULL DEFAULT 0,
    filename text,
    error text,
    result jsonb,
    started_by integer,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
)
"""


class JobRunningError(RuntimeError):
    """A backup or restore job is running already."""


class BackupJobs:
    """Starts backup and restore jobs and reads their progress."""

    def __init__(self, conninfo: str, directory: BackupDirectory, restorer: Restorer) -> None:
        self.conninfo = conninfo
        self.directory = directory
        self.restorer = restorer
        self._threads: list[threading.Thread] = []

    def create_table(self) -> None:
        """Create the jobs table if it is missing."""
        with psycopg.connect(self.conninfo) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (JOBS_LOCK_KEY,))
            conn.execute(CREATE_JOBS_TABLE)

    def _claim(self, kind: str, filename: str, user_id: int | None) -> dict[str, Any]:
        with psycopg.connect(self.conninfo, row_factory=dict_row) as conn, conn.transaction():
            conn.execute("LOCK TABLE backup_jobs IN EXCLUSIVE MODE")
            conn.execute(
                "UPDATE backup_jobs SET state = 'abandoned', finished_at = now()"
                f" WHERE state = 'running' AND updated_at < now() - interval '{STALE_AFTER}'"
            )
            running = conn.execute(
                "SELECT id, kind FROM backup_jobs WHERE state = 'running'"
            ).fetchone()
            if running is not None:
                other = running["kind"]
                article = "An" if other[:1] in "aeiou" else "A"  # an import, a backup
                raise JobRunningError(
                    f"{article} {other} job is running (job {running['id']}); try again later."
                )
            job = conn.execute(
                "INSERT INTO backup_jobs (kind, state, phase, filename, started_by)"
                " VALUES (%s, 'running', 'starting', %s, %s) RETURNING *",
                (kind, filename, user_id),
            ).fetchone()
        assert job is not None
        return dict(job)

    def start_backup(self, user_id: int | None = None) -> dict[str, Any]:
        """Back the store up into the backup directory, in the background; the new job."""
        destination = self.directory.new_path()
        job = self._claim("backup", destination.name, user_id)

        def work(progress: Callable[[str, int, int], None]) -> dict[str, Any]:
            manifest = create_backup(
                self.conninfo, destination, lambda done, total: progress("backup", done, total)
            )
            return {
                "filename": destination.name,
                "size_bytes": destination.stat().st_size,
                "manifest": manifest.as_json(),
            }

        self._run(job["id"], work)
        return job

    def start_restore(
        self, plan: RestorePlan, user_id: int | None = None, remove_after: bool = False
    ) -> dict[str, Any]:
        """Restore a planned (dry-run) archive in the background; the new job.

        `remove_after` deletes the archive once the job ends (an upload).
        """
        try:
            job = self._claim("restore", plan.archive.name, user_id)
        except JobRunningError:
            if remove_after:
                plan.archive.unlink(missing_ok=True)
            raise

        def work(progress: Callable[[str, int, int], None]) -> dict[str, Any]:
            try:
                return self.restorer.restore(plan, progress).as_json()
            finally:
                if remove_after:
                    plan.archive.unlink(missing_ok=True)

        self._run(job["id"], work)
        return job

    def start(
        self,
        kind: str,
        label: str,
        user_id: int | None,
        work: Callable[[Callable[[str, int, int], None]], dict[str, Any]],
    ) -> dict[str, Any]:
        """Run other work (an import) as a job of this table, one job at a time; the job."""
        job = self._claim(kind, label, user_id)
        self._run(job["id"], work)
        return job

    def get(self, job_id: int) -> dict[str, Any] | None:
        """A job by id, or None."""
        with psycopg.connect(self.conninfo, row_factory=dict_row) as conn:
            row = conn.execute("SELECT * FROM backup_jobs WHERE id = %s", (job_id,)).fetchone()
        return None if row is None else dict(row)

    def _run(
        self, job_id: int, work: Callable[[Callable[[str, int, int], None]], dict[str, Any]]
    ) -> None:
        def run() -> None:
            try:
                result = work(self._progress(job_id))
            except Exception as exc:
                log.exception("Job %s failed", job_id)
                self._finish(job_id, "failed", None, str(exc))
                return
            self._finish(job_id, "done", result, None)

        thread = threading.Thread(target=run, name=f"backup-job-{job_id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def wait(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds each) for the jobs this process runs to end."""
        for thread in self._threads:
            thread.join(timeout)

    def _progress(self, job_id: int) -> Callable[[str, int, int], None]:
        saved_at = [0.0]
        saved_phase = [""]

        def save(phase: str, done: int, total: int) -> None:
            now = time.monotonic()
            if phase == saved_phase[0] and now - saved_at[0] < SAVE_EVERY_SECONDS:
                return
            saved_at[0], saved_phase[0] = now, phase
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(
                        "UPDATE backup_jobs SET phase = %s, done = %s, total = %s,"
                        " updated_at = now() WHERE id = %s",
                        (phase, done, total, job_id),
                    )
            except psycopg.Error as exc:  # progress is for show: the work goes on
                log.warning("Could not record the progress of job %s: %s", job_id, exc)

        return save

    def _finish(
        self, job_id: int, state: str, result: dict[str, Any] | None, error: str | None
    ) -> None:
        try:
            self._record_end(job_id, state, result, error)
        except psycopg.Error:
            # Left 'running', the job is marked abandoned once it has been silent too long.
            log.exception("Could not record the end of job %s (%s)", job_id, state)

    def _record_end(
        self, job_id: int, state: str, result: dict[str, Any] | None, error: str | None
    ) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(
                "UPDATE backup_jobs SET state = %s, phase = %s, result = %s, error = %s,"
                " finished_at = now(), updated_at = now(),"
                " done = CASE WHEN %s THEN total ELSE done END WHERE id = %s",
                (
                    state,
                    state,
                    None if result is None else Jsonb(result),
                    error,
                    state == "done",
                    job_id,
                ),
            )
