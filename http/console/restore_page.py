"""/admin/restore: upload an archive, read the dry run, confirm, and watch the restore live.

1. `POST /admin/restore/upload` (multipart, CSRF token in `X-CSRF-Token`): the archive is
   streamed to the backup directory's uploads folder and dry-run; the answer names the
   upload and carries the findings.
2. `POST /admin/restore/start` (JSON `{"upload", "until", "confirmed": true}`): the dry run
   again (the file may have changed), then the restore job, which deletes the upload when it
   ends. `static/restore.js` then polls `restoring.get_job` every second.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from timetracker.backups.directory import UPLOADS
from timetracker.http.backups import UploadClock, save_upload
from timetracker.http.console.rendering import page
from timetracker.http.console.restoring import (
    ConsoleError,
    dry_run,
    jobs_of,
    limit_restores,
    point_in_time,
    refused,
    start_restore,
)
from timetracker.http.errors import ApiError
from timetracker.http.keys import settings_key
from timetracker.http.middlewares.body_timeout import streams_body
from timetracker.http.responses import json_response
from timetracker.http.threads import in_thread

routes = web.RouteTableDef()
UPLOAD_NAME = re.compile(r"upload-[0-9a-f]{32}\.tar")
MAX_FIELD_BYTES = 200
POLL_SECONDS = 1


def _upload_path(request: web.Request, name: Any) -> Path:
    """An upload of this service by its name (never a path); ConsoleError if none."""
    if not isinstance(name, str) or not UPLOAD_NAME.fullmatch(name):
        raise ConsoleError(400, "Upload the archive again: the upload is unknown.")
    path = jobs_of(request).directory.path / UPLOADS / name
    if path.is_symlink() or not path.is_file():
        raise ConsoleError(404, "Upload the archive again: the upload is gone.")
    return path


async def _text(part: BodyPartReader) -> str:
    data = await part.read_chunk(MAX_FIELD_BYTES + 1)
    if len(data) > MAX_FIELD_BYTES:
        raise ConsoleError(400, f"The field {part.name} is too long.")
    return data.decode("utf-8", errors="replace")


async def _receive(request: web.Request, destination: Path) -> dict[str, str]:
    """Save the `file` part to `destination`; the text fields."""
    if request.content_type != "multipart/form-data":
        raise ConsoleError(415, "Send the archive as a multipart form with a file.")
    settings = request.config_dict[settings_key]
    limit = settings.backup_upload_max_bytes
    values: dict[str, str] = {}
    has_file = False
    try:
        async with asyncio.timeout(None) as timeout:
            clock = UploadClock(timeout, settings.body_timeout)  # as the API's upload
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise ConsoleError(400, "Nested multipart bodies are not accepted.")
                if part.name == "file" and not has_file:
                    await save_upload(part, destination, limit, clock)
                    has_file = True
                elif part.name == "until" and "until" not in values:
                    values["until"] = await _text(part)
                else:
                    raise ConsoleError(400, "Unknown or repeated field in the upload.")
    except ApiError as exc:
        raise ConsoleError(exc.status, exc.message) from None
    except (ValueError, AssertionError, HttpProcessingError) as exc:  # a bad part header too
        raise ConsoleError(400, f"Malformed upload ({exc}).") from None
    except TimeoutError:
        raise ConsoleError(408, "The upload did not arrive in time; try again.") from None
    if not has_file:
        raise ConsoleError(400, "Choose an archive file first.")
    return values


@routes.get("/restore", name="restore")
async def show_restore(request: web.Request) -> web.Response:
    job = request.query.get("job", "")
    return page(
        request,
        "restore.html",
        {
            "job_id": job if job.isdigit() else "",
            "poll": POLL_SECONDS,
            "max_bytes": request.config_dict[settings_key].backup_upload_max_bytes,
        },
    )


@routes.post("/restore/upload")
@streams_body
async def upload_archive(request: web.Request) -> web.Response:
    """Receive an archive and dry-run it; the upload's name and the findings."""
    destination: Path = await in_thread(jobs_of(request).directory.create_upload)  # 0600
    try:
        values = await _receive(request, destination)
        plan = await dry_run(request, destination, point_in_time(values.get("until")))
    except ConsoleError as exc:
        destination.unlink(missing_ok=True)
        return refused(exc)
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return json_response({"upload": destination.name, "dry_run": plan.as_json()})


@routes.post("/restore/start")
async def start_upload_restore(request: web.Request) -> web.Response:
    """Restore a dry-run upload once the person confirmed it."""
    try:
        try:
            form = await request.json()
        except ValueError:
            raise ConsoleError(400, "Send the form as JSON.") from None
        if not isinstance(form, dict) or form.get("confirmed") is not True:
            raise ConsoleError(400, "Tick the confirmation box first.")
        archive = _upload_path(request, form.get("upload"))
        await limit_restores(request)
        plan = await dry_run(request, archive, point_in_time(form.get("until")))
        return await start_restore(request, plan, remove_after=True)
    except ConsoleError as exc:
        return refused(exc)
