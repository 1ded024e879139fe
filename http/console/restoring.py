"""Backup and restore jobs as the console shows them: dry runs, starts, and live progress.

The console calls the same objects as the JSON admin API (`BackupJobs`, `Restorer`), never
the API over HTTP. Its fetch() routes answer JSON `{"error": ...}` with a 4xx status on bad
input. Progress is read from the jobs table, so it keeps working through the maintenance a
restore puts the service in (the session guard then trusts the signed-in identity).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from marshmallow import ValidationError

from timetracker.backups.archive import ArchiveError
from timetracker.backups.jobs import BackupJobs, JobRunningError
from timetracker.backups.restore import RestorePlan, StoreNotEmptyError
from timetracker.http.backups import RESTORE_WINDOW, job_json
from timetracker.http.console.guard import passive
from timetracker.http.console.keys import console_user_key
from timetracker.http.keys import backup_jobs_key, maintenance_key, rate_limiter_key
from timetracker.http.responses import json_response
from timetracker.http.schemas.common import parse_last_moment
from timetracker.http.threads import in_thread

routes = web.RouteTableDef()
CONFIRMATION = "RESTORE"
# A restore's phases in order, with the share of the whole each one is counted as.
RESTORE_PHASES = (("safety backup", 0.2), ("load", 0.4), ("read models", 0.4))
NEXT_STEPS = (
    "If the service is still in maintenance, rebuild the read models (Read models page, or"
    " `timetracker projections rebuild --all`), then turn maintenance off with"
    " `timetracker backup maintenance off`. The archive itself was not changed: check it with"
    " a dry run and try again."
)


class ConsoleError(Exception):
    """A request the console refuses: shown to the person as `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def refused(error: ConsoleError) -> web.Response:
    """The JSON answer a page's script shows in its error banner."""
    return json_response({"error": error.message}, status=error.status)


def jobs_of(request: web.Request) -> BackupJobs:
    """The service's backup and restore jobs."""
    return request.config_dict[backup_jobs_key]


def point_in_time(text: str | None) -> datetime | None:
    """The optional point in time of a restore form ("" means the whole archive)."""
    if not text or not text.strip():
        return None
    try:
        return parse_last_moment(text.strip())
    except ValidationError as exc:
        raise ConsoleError(400, f"Point in time: {' '.join(map(str, exc.messages))}") from None


async def limit_restores(request: web.Request) -> None:
    """The API's limit on restore requests (3 a minute per user), for the console too."""
    user_id = request[console_user_key]["id"]
    decision = await request.config_dict[rate_limiter_key].hit(
        f"restore:{user_id}", [RESTORE_WINDOW]
    )
    if not decision.admitted:
        raise ConsoleError(
            429,
            f"At most {RESTORE_WINDOW.quota} restore requests a minute; try again in"
            f" {decision.retry_after()} seconds.",
        )


async def dry_run(request: web.Request, archive: Path, until: datetime | None) -> RestorePlan:
    """Check every byte of the archive and what restoring it would do (changes nothing).

    The console always replaces the store (a safety backup of it is taken first): the
    person confirms that by typing RESTORE or ticking the confirmation box.
    """
    try:
        plan: RestorePlan = await in_thread(jobs_of(request).restorer.plan, archive, until, True)
    except ArchiveError as exc:
        raise ConsoleError(422, f"The dry run rejected the archive: {exc}") from None
    except StoreNotEmptyError as exc:  # not raised with force; kept for safety
        raise ConsoleError(409, str(exc)) from None
    return plan


async def start_restore(
    request: web.Request, plan: RestorePlan, remove_after: bool
) -> web.Response:
    """Start the restore job; its JSON with the dry run's findings (202)."""
    user_id = int(request[console_user_key]["id"])
    try:
        job = await in_thread(jobs_of(request).start_restore, plan, user_id, remove_after)
    except JobRunningError as exc:
        raise ConsoleError(409, str(exc)) from None
    return json_response({"job": job_json(job), "dry_run": plan.as_json()}, status=202)


def _seconds_since(moment: datetime) -> float:
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())


def restore_progress(job: dict[str, Any]) -> dict[str, Any]:
    """What the restore page shows of a restore job: phase, counts, percentage, time left."""
    phase, done, total = job["phase"], int(job["done"]), int(job["total"])
    share_before = 0.0
    fraction = 0.0
    for name, share in RESTORE_PHASES:
        if name == phase:
            fraction = share_before + share * (done / total if total else 0.0)
            break
        share_before += share
    result = job["result"] or {}
    if job["state"] == "done":
        fraction = 1.0
    loaded = result.get("events") if job["state"] == "done" else None
    if loaded is None:
        loaded = done if phase == "load" else (total if phase == "read models" else 0)
    ended = job["finished_at"]
    elapsed = (
        _seconds_since(job["started_at"])
        if ended is None
        else max(0.0, (ended - job["started_at"]).total_seconds())
    )
    left: float | None = None
    if job["state"] == "running" and fraction > 0.02:
        left = elapsed * (1 - fraction) / fraction
    return {
        "phase": phase,
        "percent": round(100 * fraction, 1),
        "events_loaded": loaded,
        "read_models_done": done if phase == "read models" else None,
        "read_models_total": total if phase == "read models" else None,
        "read_models": result.get("read_models"),
        "seconds_elapsed": round(elapsed, 1),
        "seconds_left": None if left is None else round(left, 1),
        "next_steps": NEXT_STEPS if job["state"] in {"failed", "abandoned"} else None,
    }


@routes.get("/jobs/{job_id:\\d+}.json")
@passive
async def get_job(request: web.Request) -> web.Response:
    """A backup or restore job's progress (polled by the Backups and Restore pages)."""
    job = await in_thread(jobs_of(request).get, int(request.match_info["job_id"]))
    if job is None:
        return json_response({"error": "No such job."}, status=404)
    maintenance = await request.config_dict[maintenance_key].fresh()
    body: dict[str, Any] = {
        "job": job_json(job),
        "maintenance": None if maintenance is None else maintenance.reason,
        "checked_at": time.time(),
    }
    if job["kind"] == "restore":
        body["progress"] = restore_progress(job)
    return json_response(body)
