"""/admin/backups: every archive, "Create backup" with progress, downloads, and restoring a row.

The buttons are driven by `static/backups.js` through small JSON routes (CSRF token in the
`X-CSRF-Token` header); progress comes from `restoring.get_job`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from timetracker.backups.directory import BackupFile, BackupNameError, BackupNotFoundError
from timetracker.backups.jobs import JobRunningError
from timetracker.http.backups import backup_json, job_json
from timetracker.http.console.keys import console_user_key
from timetracker.http.console.rendering import page
from timetracker.http.console.restoring import (
    CONFIRMATION,
    ConsoleError,
    dry_run,
    jobs_of,
    limit_restores,
    point_in_time,
    refused,
    start_restore,
)
from timetracker.http.responses import json_response
from timetracker.http.threads import in_thread

routes = web.RouteTableDef()


def _size(size_bytes: int) -> str:
    """A size for people: 1.2 MB, 950 kB, 12 B."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= factor:
            return f"{size_bytes / factor:.1f} {unit}"
    return f"{size_bytes} B"


def _row(item: BackupFile) -> dict[str, Any]:
    shown = backup_json(item)
    created = shown["created_at"] or ""
    return {**shown, "size": _size(item.size_bytes), "created": created.replace("T", " ")}


async def _archive(request: web.Request) -> Path:
    try:
        path: Path = await in_thread(jobs_of(request).directory.resolve, request.match_info["name"])
    except (BackupNameError, BackupNotFoundError) as exc:
        raise ConsoleError(404, str(exc)) from None
    return path


async def _form(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ConsoleError(400, "Send the form as JSON.") from None
    if not isinstance(body, dict):
        raise ConsoleError(400, "Send the form as a JSON object.")
    return body


@routes.get("/backups", name="backups")
async def show_backups(request: web.Request) -> web.Response:
    archives: list[BackupFile] = await in_thread(jobs_of(request).directory.list)
    created = request.query.get("created")  # after "Create backup": the new archive's name
    known = {item.filename for item in archives}
    return page(
        request,
        "backups.html",
        {
            "archives": [_row(item) for item in archives],
            "created": created if created in known else None,
        },
    )


@routes.post("/backups")
async def create_backup(request: web.Request) -> web.Response:
    try:
        job = await in_thread(jobs_of(request).start_backup, int(request[console_user_key]["id"]))
    except JobRunningError as exc:
        return refused(ConsoleError(409, str(exc)))
    return json_response({"job": job_json(job)}, status=202)


@routes.get("/backups/{name}/download")
async def download_backup(request: web.Request) -> web.StreamResponse:
    try:
        path = await _archive(request)
    except ConsoleError as exc:
        raise web.HTTPNotFound() from exc
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/x-tar",
            "Content-Disposition": f'attachment; filename="{path.name}"',
        },
    )


@routes.post("/backups/{name}/dry-run")
async def check_backup(request: web.Request) -> web.Response:
    """The dry run of restoring this archive (at the point in time asked for)."""
    try:
        form = await _form(request)
        plan = await dry_run(request, await _archive(request), point_in_time(form.get("until")))
    except ConsoleError as exc:
        return refused(exc)
    return json_response({"dry_run": plan.as_json()})


@routes.post("/backups/{name}/restore")
async def restore_backup(request: web.Request) -> web.Response:
    """Restore this archive: RESTORE typed, dry run again, then the restore job."""
    try:
        form = await _form(request)
        if form.get("confirm") != CONFIRMATION:
            raise ConsoleError(400, f"Type {CONFIRMATION} to confirm.")
        await limit_restores(request)
        archive = await _archive(request)
        plan = await dry_run(request, archive, point_in_time(form.get("until")))
        return await start_restore(request, plan, remove_after=False)
    except ConsoleError as exc:
        return refused(exc)
