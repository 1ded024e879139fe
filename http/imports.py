"""/api/v1/admin/imports: import another tracker's CSV export (a dry run, or a job)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp_apigami import docs, response_schema

from timetracker.backups.jobs import JobRunningError
from timetracker.domain.values import Stamp
from timetracker.http.access import caller_of, requires
from timetracker.http.backups import (
    BackupJobResponse,
    DryRunResponse,
    UploadClock,
    UploadTooSlowError,
    job_json,
)
from timetracker.http.errors import ApiError, validation_error
from timetracker.http.keys import (
    backup_jobs_key,
    freshness_key,
    settings_key,
    time_tracking_key,
)
from timetracker.http.middlewares.body_timeout import (
    multipart_of,
    request_timeout,
    send_and_close,
    streams_body,
)
from timetracker.http.middlewares.positions import EVERY_READ_MODEL
from timetracker.http.paths import api_path
from timetracker.http.responses import json_response
from timetracker.http.schemas.common import ErrorResponse
from timetracker.http.schemas.reports import iana_zone
from timetracker.http.threads import in_thread
from timetracker.http.writes import stamp_of
from timetracker.imports.formats import FORMATS, ImportFormatError
from timetracker.imports.importer import Importer, ImportPlan, ImportUserError

routes = web.RouteTableDef()

FORM_FIELDS = frozenset({"format", "dry_run", "user", "timezone"})
MAX_FIELD_BYTES = 256
CHUNK = 256 * 1024
# How long an import job waits, after writing, for every read model to show what it wrote
# (its result says whether they did: `read_models_caught_up`).
IMPORT_SHOWN_SECONDS = 600.0
IMPORT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "format"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "The CSV export (UTF-8).",
                    },
                    "format": {"type": "string", "enum": list(FORMATS)},
                    "dry_run": {"type": "boolean", "description": "Only say what would happen."},
                    "user": {
                        "type": "string",
                        "description": "Record every entry for this username.",
                    },
                    "timezone": {
                        "type": "string",
                        "description": "IANA zone of the file's times (default UTC).",
                    },
                },
            }
        }
    },
}


async def _field(part: BodyPartReader) -> str:
    data = await part.read()
    if len(data) > MAX_FIELD_BYTES:
        raise validation_error({part.name or "_form": ["Too long."]})
    try:
        return data.decode().strip()
    except UnicodeDecodeError:
        raise validation_error({part.name or "_form": ["Not UTF-8 text."]}) from None


async def read_import_form(request: web.Request) -> tuple[dict[str, str], str, str]:
    """The text fields, the file's text (at most BACKUP_UPLOAD_MAX_BYTES) and its name."""
    if request.content_type != "multipart/form-data":
        raise ApiError(
            415,
            "Unsupported media type",
            "Send the export as multipart/form-data with a `file` part.",
            "unsupported_media_type",
        )
    settings = request.config_dict[settings_key]
    limit = settings.backup_upload_max_bytes
    values: dict[str, str] = {}
    content: bytearray | None = None
    filename = ""
    try:
        async with asyncio.timeout(None) as timeout:
            clock = UploadClock(timeout, settings.body_timeout)  # as an archive upload's
            reader = await multipart_of(request)
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise validation_error({"_form": ["Nested multipart bodies are not accepted."]})
                if part.name == "file" and content is None:
                    content = bytearray()
                    filename = part.filename or ""
                    while chunk := await part.read_chunk(CHUNK):
                        clock.got(len(chunk))
                        content += chunk
                        if len(content) > limit:
                            raise ApiError(
                                413,
                                "Payload too large",
                                f"The file is larger than the upload limit of {limit:,} bytes.",
                                "payload_too_large",
                            )
                elif part.name in FORM_FIELDS and part.name not in values:
                    values[part.name] = await _field(part)
                else:
                    raise validation_error({part.name or "_form": ["Unknown or repeated field."]})
    except (ValueError, AssertionError, HttpProcessingError) as exc:  # a bad part header too
        raise validation_error({"_form": [f"Malformed multipart body ({exc})."]}) from None
    except TimeoutError:
        raise UploadTooSlowError(settings.body_timeout) from None
    if content is None:
        raise validation_error({"file": ["Missing data for required field."]})
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise validation_error({"file": ["Not UTF-8 text."]}) from None
    return values, text, filename


def import_options(values: dict[str, str]) -> tuple[str, bool, str | None, ZoneInfo]:
    """The form's format, dry run, user and time zone, or a 400 naming each bad one."""
    errors: dict[str, list[str]] = {}
    fmt = values.get("format", "")
    if fmt not in FORMATS:
        errors["format"] = [f"Must be one of: {', '.join(FORMATS)}."]
    dry_run = values.get("dry_run", "false").lower()
    if dry_run not in ("true", "false", "1", "0"):
        errors["dry_run"] = ["Must be true or false."]
    zone = ZoneInfo("UTC")
    try:
        zone = iana_zone(values.get("timezone") or "UTC")
    except ValueError:
        errors["timezone"] = ["Not an IANA time zone."]
    if errors:
        raise validation_error(errors)
    return fmt, dry_run in ("true", "1"), values.get("user") or None, zone


def import_work(
    request: web.Request, importer: Importer, plan: ImportPlan, stamp: Stamp
) -> Callable[[Callable[[str, int, int], None]], dict[str, Any]]:
    """An import job's work (for `BackupJobs.start`; made on the loop, run in the job's
    thread): record the plan, then wait until every read model shows it."""
    loop, freshness = asyncio.get_running_loop(), request.config_dict[freshness_key]

    def work(progress: Callable[[str, int, int], None]) -> dict[str, Any]:
        result = importer.run(plan, stamp, lambda done, total: progress("import", done, total))
        summary = result.summary()
        summary["read_models_caught_up"] = True  # nothing written: nothing to wait for
        if result.position is not None:
            # Done means shown: the job ends once every read model has the import (bounded).
            progress("read models", 0, 1)
            shown = freshness.wait_for(EVERY_READ_MODEL, result.position, IMPORT_SHOWN_SECONDS)
            summary["read_models_caught_up"] = asyncio.run_coroutine_threadsafe(
                shown, loop
            ).result()
            # Any process's next list shows it (`Freshness.answering`).
            asyncio.run_coroutine_threadsafe(freshness.answering(result.position), loop).result()
            progress("read models", 1, 1)
        return summary

    return work


@routes.post("/admin/imports")
@docs(
    tags=["admin"],
    summary="Import time entries from a CSV export of Toggl, Clockify, Harvest, Kimai or "
    "TimeTracker (a dry run, or a background job)",
    description="Missing clients, projects and tasks are created by name; users are matched "
    "by email or name (`user` maps every row to one user). Entries imported before from the "
    "same file are skipped. Answers 200 with the plan (and each unreadable row with its line) "
    "when `dry_run` is true, else 202 with the job (`GET /admin/jobs/{id}` for progress).",
    requestBody=IMPORT_BODY,
)
@requires("admin:all", admin=True)
@streams_body
@response_schema(DryRunResponse, 200)
@response_schema(BackupJobResponse, 202)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 408)
@response_schema(ErrorResponse, 409)
@response_schema(ErrorResponse, 413)
@response_schema(ErrorResponse, 415)
async def create_import(request: web.Request) -> web.StreamResponse:
    try:
        values, text, filename = await read_import_form(request)
    except UploadTooSlowError as slow:
        return await send_and_close(request, request_timeout(slow.seconds))
    fmt, dry_run, username, zone = import_options(values)
    importer = Importer(
        request.config_dict[time_tracking_key], request.config_dict[settings_key].conninfo
    )
    try:
        plan: ImportPlan = await in_thread(importer.plan, fmt, text, zone, username)
    except ImportFormatError as exc:
        raise validation_error({"file": [str(exc)]}, str(exc)) from None
    except ImportUserError as exc:
        raise validation_error({"user": [str(exc)]}, str(exc)) from None
    if dry_run:
        return json_response({"dry_run": plan.summary()})
    work = import_work(request, importer, plan, stamp_of(request))
    jobs = request.config_dict[backup_jobs_key]
    label = filename or f"{fmt}.csv"
    try:
        job = await in_thread(jobs.start, "import", label, caller_of(request).user_id, work)
    except JobRunningError as exc:
        raise ApiError(409, "Conflict", str(exc), "job_running") from None
    return json_response(
        {"job": job_json(job), "dry_run": plan.summary()},
        status=202,
        headers={"Location": api_path(f"/admin/jobs/{job['id']}")},
    )
