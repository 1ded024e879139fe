"""/api/v1/admin/backups, /restore and /jobs: backups and restores for admins, as jobs.

Safety first: every route needs `admin:all` and an admin user. A restore is refused unless
the request confirms it (`"confirm": "RESTORE"`), runs a dry run (every check of the
archive) before anything changes, replaces a store that has events only when forced (a
safety backup is taken first), and is limited to 3 requests a minute per user. A backup
is named by the service and restored by name only if the name is one the service gives
(no paths); an upload is size-limited and must be a tar file that starts with a manifest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp_apigami import docs, json_schema, match_info_schema, response_schema
from marshmallow import Schema, ValidationError, fields, validate

from timetracker.backups.archive import BLOCK, ArchiveError, looks_like_archive
from timetracker.backups.directory import (
    BackupDirectory,
    BackupFile,
    BackupNameError,
    BackupNotFoundError,
)
from timetracker.backups.jobs import BackupJobs, JobRunningError
from timetracker.backups.restore import RestorePlan, Restorer, StoreNotEmptyError
from timetracker.eventlog.documents import rfc3339
from timetracker.http.access import caller_of, requires
from timetracker.http.errors import ApiError, not_found, validation_error
from timetracker.http.keys import (
    backup_jobs_key,
    body_key,
    maintenance_key,
    path_key,
    rate_limiter_key,
    read_pool_key,
    settings_key,
    time_tracking_key,
)
from timetracker.http.maintenance import MaintenanceFlag
from timetracker.http.middlewares.body_timeout import (
    multipart_of,
    request_timeout,
    send_and_close,
    streams_body,
)
from timetracker.http.paths import api_path
from timetracker.http.rate_limit import Window, rate_limit_headers
from timetracker.http.responses import json_response
from timetracker.http.schemas.common import (
    ErrorResponse,
    LastMoment,
    QueryBoolean,
    StrictBoolean,
    parse_last_moment,
    path_id,
)
from timetracker.http.threads import in_thread
from timetracker.http.webhook_dispatch import replay_after_restore

routes = web.RouteTableDef()

RESTORE_WINDOW = Window("restore", 3, 60)
CONFIRMATION = "RESTORE"
UPLOAD_TYPES = frozenset({"application/x-tar", "application/tar", "application/octet-stream"})
FORM_FIELDS = frozenset({"confirm", "until", "force", "dry_run"})
MAX_FIELD_BYTES = 1024
CHUNK = 256 * 1024
JOB_SHUTDOWN_WAIT_SECONDS = 60.0
MIN_UPLOAD_BYTES_PER_SECOND = 64 * 1024  # a stopping server lets a running backup or restore end
JobPath = path_id("job_id")


class BackupSchema(Schema):
    filename = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "`backup` or `safety`"})
    size_bytes = fields.Integer(required=True)
    created_at = fields.String(allow_none=True)
    format_version = fields.Integer(allow_none=True)
    event_count = fields.Integer(allow_none=True)
    last_position = fields.Integer(allow_none=True)
    stream_count = fields.Integer(allow_none=True)
    events_sha256 = fields.String(allow_none=True)
    problem = fields.String(allow_none=True, metadata={"description": "Why it is unreadable"})


class BackupListResponse(Schema):
    backups = fields.List(fields.Nested(BackupSchema), required=True)


class BackupJobSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "`backup` or `restore`"})
    state = fields.String(
        required=True, metadata={"description": "`running`, `done`, `failed` or `abandoned`"}
    )
    phase = fields.String(allow_none=True)
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)
    filename = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    result = fields.Dict(allow_none=True)
    started_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    finished_at = fields.String(allow_none=True)


class BackupJobResponse(Schema):
    job = fields.Nested(BackupJobSchema, required=True)
    dry_run = fields.Dict(metadata={"description": "With a restore: what the dry run found"})


class DryRunResponse(Schema):
    dry_run = fields.Dict(required=True)


class RestoreRequest(Schema):
    confirm = fields.String(
        required=True,
        validate=validate.Equal(CONFIRMATION, error='Must be "RESTORE".'),
        metadata={"description": 'Must be "RESTORE".'},
    )
    until = LastMoment(
        metadata={
            "description": "Restore history only up to this moment (point in time): a "
            "date-time, or a date (through its end)."
        }
    )
    force = StrictBoolean(
        load_default=False,
        metadata={"description": "Replace a store that has events (a safety backup is taken)."},
    )
    dry_run = StrictBoolean(
        load_default=False, metadata={"description": "Only check the archive; change nothing."}
    )


class RestoreForm(Schema):
    """The text fields of an upload (form values are strings)."""

    confirm = fields.String(
        required=True, validate=validate.Equal(CONFIRMATION, error='Must be "RESTORE".')
    )
    until = fields.String()
    force = QueryBoolean(load_default=False)
    dry_run = QueryBoolean(load_default=False)


class RestorePath(Schema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=255))


UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "confirm"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "An archive written by `timetracker backup create`"
                        " (application/x-tar or application/octet-stream).",
                    },
                    "confirm": {"type": "string", "enum": [CONFIRMATION]},
                    "until": {
                        "type": "string",
                        "description": "A date-time, or a date (through its end).",
                    },
                    "force": {"type": "boolean", "default": False},
                    "dry_run": {"type": "boolean", "default": False},
                },
            }
        }
    },
}


def backup_json(item: BackupFile) -> dict[str, Any]:
    """The API representation of an archive in the backup directory."""
    manifest = item.manifest
    return {
        "filename": item.filename,
        "kind": item.kind,
        "size_bytes": item.size_bytes,
        "created_at": None if manifest is None else manifest.as_json()["created_at"],
        "format_version": None if manifest is None else manifest.format_version,
        "event_count": None if manifest is None else manifest.event_count,
        "last_position": None if manifest is None else manifest.last_position,
        "stream_count": None if manifest is None else manifest.stream_count,
        "events_sha256": None if manifest is None else manifest.events_sha256,
        "problem": item.problem,
    }


def job_json(job: dict[str, Any]) -> dict[str, Any]:
    """The API representation of a backup or restore job."""
    return {
        "id": job["id"],
        "kind": job["kind"],
        "state": job["state"],
        "phase": job["phase"],
        "done": job["done"],
        "total": job["total"],
        "filename": job["filename"],
        "error": job["error"],
        "result": job["result"],
        "started_at": rfc3339(job["started_at"]),
        "updated_at": rfc3339(job["updated_at"]),
        "finished_at": rfc3339(job["finished_at"]),
    }


def _jobs(request: web.Request) -> BackupJobs:
    return request.config_dict[backup_jobs_key]


def _job_location(job: dict[str, Any]) -> str:
    return api_path(f"/admin/jobs/{job['id']}")


async def _limit_restores(request: web.Request) -> None:
    """At most 3 restore requests a minute per user, whatever their outcome."""
    limiter = request.config_dict[rate_limiter_key]
    decision = await limiter.hit(f"restore:{caller_of(request).user_id}", [RESTORE_WINDOW])
    if not decision.admitted:
        raise ApiError(
            429,
            "Too many requests",
            f"At most {RESTORE_WINDOW.quota} restore requests a minute; retry in"
            f" {decision.retry_after()} seconds.",
            "rate_limited",
            headers={**rate_limit_headers(decision), "Retry-After": str(decision.retry_after())},
        )


async def _plan(
    request: web.Request, archive: Path, until: Any, force: bool, remove_on_failure: bool
) -> RestorePlan:
    """The dry run; 422 with the reason for an unsound archive, 409 for a store with events."""
    jobs = _jobs(request)
    try:
        plan: RestorePlan = await in_thread(jobs.restorer.plan, archive, until, force)
    except ArchiveError as exc:
        if remove_on_failure:
            archive.unlink(missing_ok=True)
        raise ApiError(
            422, "Archive rejected", f"The dry run rejected the archive: {exc}", "archive_invalid"
        ) from None
    except StoreNotEmptyError as exc:
        if remove_on_failure:
            archive.unlink(missing_ok=True)
        raise ApiError(409, "Conflict", str(exc), "store_not_empty") from None
    return plan


async def _start_restore(
    request: web.Request, plan: RestorePlan, remove_after: bool
) -> web.Response:
    try:
        job = await in_thread(
            _jobs(request).start_restore, plan, caller_of(request).user_id, remove_after
        )
    except JobRunningError as exc:
        raise ApiError(409, "Conflict", str(exc), "job_running") from None
    return json_response(
        {"job": job_json(job), "dry_run": plan.as_json()},
        status=202,
        headers={"Location": _job_location(job)},
    )


@routes.get("/admin/backups", allow_head=False)
@docs(tags=["admin"], summary="The archives in the backup directory, newest first")
@requires("admin:all", admin=True)
@response_schema(BackupListResponse, 200)
async def list_backups(request: web.Request) -> web.Response:
    directory = _jobs(request).directory
    found: list[BackupFile] = await in_thread(directory.list)
    return json_response({"backups": [backup_json(item) for item in found]})


@routes.post("/admin/backups")
@docs(
    tags=["admin"],
    summary="Back up the whole event store (a background job; writers carry on)",
)
@requires("admin:all", admin=True)
@response_schema(BackupJobResponse, 202)
@response_schema(ErrorResponse, 409)
async def create_backup(request: web.Request) -> web.Response:
    try:
        job = await in_thread(_jobs(request).start_backup, caller_of(request).user_id)
    except JobRunningError as exc:
        raise ApiError(409, "Conflict", str(exc), "job_running") from None
    return json_response(
        {"job": job_json(job)}, status=202, headers={"Location": _job_location(job)}
    )


@routes.post("/admin/restore/{filename}")
@docs(
    tags=["admin"],
    summary="Restore a backup of the backup directory (dry run first, then a background job)",
    description="Answers 200 with the dry run's findings when `dry_run` is true, else 202 "
    "with the restore job. While it runs every other route answers 503 `maintenance`.",
)
@requires("admin:all", admin=True)
@match_info_schema(RestorePath)
@json_schema(RestoreRequest)
@response_schema(DryRunResponse, 200)
@response_schema(BackupJobResponse, 202)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 409)
@response_schema(ErrorResponse, 422)
@response_schema(ErrorResponse, 429)
async def restore_backup(request: web.Request) -> web.Response:
    await _limit_restores(request)
    body = request[body_key]
    try:
        archive = _jobs(request).directory.resolve(request[path_key]["filename"])
    except BackupNameError as exc:
        raise validation_error({"filename": [str(exc)]}, str(exc)) from None
    except BackupNotFoundError as exc:
        raise not_found(str(exc)) from None
    plan = await _plan(request, archive, body.get("until"), body["force"], False)
    if body["dry_run"]:
        return json_response({"dry_run": plan.as_json()})
    return await _start_restore(request, plan, remove_after=False)


async def _field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise validation_error({part.name or "_form": ["Too long."]})
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise validation_error({part.name or "_form": ["Not UTF-8 text."]}) from None


class UploadClock:
    """The time an upload may take: `BODY_TIMEOUT` seconds, plus one second for every
    `MIN_UPLOAD_BYTES_PER_SECOND` received (a large archive over a slow link gets through;
    a byte now and then does not)."""

    def __init__(self, timeout: asyncio.Timeout, seconds: float) -> None:
        self.timeout = timeout
        self.seconds = seconds
        self.started = asyncio.get_running_loop().time()
        self.received = 0
        timeout.reschedule(self.started + seconds)

    def got(self, size: int) -> None:
        self.received += size
        self.timeout.reschedule(
            self.started + self.seconds + self.received / MIN_UPLOAD_BYTES_PER_SECOND
        )


async def save_upload(
    part: BodyPartReader, destination: Path, limit: int, clock: UploadClock
) -> None:
    """Stream the file part to disk; 413 past `limit`, 415 unless it is a backup archive."""
    declared = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
    if declared.split(";")[0].strip().lower() not in UPLOAD_TYPES:
        raise ApiError(
            415,
            "Unsupported media type",
            "Upload the archive as application/x-tar or application/octet-stream.",
            "unsupported_media_type",
        )
    size = 0
    head = b""
    file: IO[bytes] = await in_thread(destination.open, "r+b")
    try:
        while chunk := await part.read_chunk(CHUNK):
            clock.got(len(chunk))
            size += len(chunk)
            if size > limit:
                raise ApiError(
                    413,
                    "Payload too large",
                    f"The archive is larger than the upload limit of {limit:,} bytes.",
                    "payload_too_large",
                )
            if len(head) < BLOCK:
                head += chunk[: BLOCK - len(head)]
                if len(head) >= BLOCK and not looks_like_archive(head):
                    raise _not_an_archive()
            await in_thread(file.write, chunk)
    finally:
        await in_thread(file.close)
    if not looks_like_archive(head):
        raise _not_an_archive()


def _not_an_archive() -> ApiError:
    return ApiError(
        415,
        "Unsupported media type",
        "Not a TimeTracker ES backup: a tar archive whose first member is manifest.json.",
        "unsupported_media_type",
    )


class UploadTooSlowError(Exception):
    """The upload did not arrive in the time it was given."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


async def _read_upload(request: web.Request, destination: Path) -> dict[str, str]:
    """The form's text fields; the file part saved to `destination`."""
    if request.content_type != "multipart/form-data":
        raise ApiError(
            415,
            "Unsupported media type",
            "Send the archive as multipart/form-data with a `file` part.",
            "unsupported_media_type",
        )
    settings = request.config_dict[settings_key]
    limit = settings.backup_upload_max_bytes
    values: dict[str, str] = {}
    has_file = False
    try:
        async with asyncio.timeout(None) as timeout:
            clock = UploadClock(timeout, settings.body_timeout)
            reader = await multipart_of(request)
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise validation_error({"_form": ["Nested multipart bodies are not accepted."]})
                if part.name == "file" and not has_file:
                    await save_upload(part, destination, limit, clock)
                    has_file = True
                elif part.name in FORM_FIELDS and part.name not in values:
                    values[part.name] = await _field(part)
                else:
                    raise validation_error({part.name or "_form": ["Unknown or repeated field."]})
    except (ValueError, AssertionError, HttpProcessingError) as exc:  # a bad part header too
        raise validation_error({"_form": [f"Malformed multipart body ({exc})."]}) from None
    except TimeoutError:
        raise UploadTooSlowError(settings.body_timeout) from None
    if not has_file:
        raise validation_error({"file": ["Missing data for required field."]})
    return values


@routes.post("/admin/restore")
@docs(
    tags=["admin"],
    summary="Restore an uploaded archive (dry run first, then a background job)",
    description="A multipart/form-data upload with the archive in `file`. Answers 200 with "
    "the dry run's findings when `dry_run` is true, else 202 with the restore job.",
    requestBody=UPLOAD_BODY,
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
@response_schema(ErrorResponse, 422)
@response_schema(ErrorResponse, 429)
async def upload_restore(request: web.Request) -> web.StreamResponse:
    await _limit_restores(request)
    destination = await in_thread(_jobs(request).directory.create_upload)
    handed_over = False
    try:
        try:
            values = await _read_upload(request, destination)
        except UploadTooSlowError as slow:
            return await send_and_close(request, request_timeout(slow.seconds))
        try:
            form = RestoreForm().load(values)
            until = parse_last_moment(form["until"]) if "until" in form else None
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"until": exc.messages}
            raise validation_error({k: [str(m) for m in v] for k, v in messages.items()}) from None
        plan = await _plan(request, destination, until, form["force"], remove_on_failure=True)
        if form["dry_run"]:
            return json_response({"dry_run": plan.as_json()})
        response = await _start_restore(request, plan, remove_after=True)
        handed_over = True  # the job removes the file when it ends
        return response
    finally:
        # Whatever went wrong (or a dry run), the upload is not kept.
        if not handed_over:
            destination.unlink(missing_ok=True)


@routes.get("/admin/jobs/{job_id}", allow_head=False)
@docs(tags=["admin"], summary="Progress and outcome of a backup or restore job")
@requires("admin:all", admin=True)
@match_info_schema(JobPath)
@response_schema(BackupJobResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
async def get_job(request: web.Request) -> web.Response:
    job = await in_thread(_jobs(request).get, request[path_key]["job_id"])
    if job is None:
        raise not_found(f"No job {request[path_key]['job_id']}.")
    return json_response({"job": job_json(job)})


async def backups_ctx(app: web.Application) -> AsyncIterator[None]:
    """The maintenance flag and the backup jobs (after the event store and read models)."""
    settings = app[settings_key]
    store = app[time_tracking_key]
    app[maintenance_key] = MaintenanceFlag(app[read_pool_key])

    def replay(progress: Any) -> dict[str, int]:
        return replay_after_restore(store, settings, progress)

    directory = BackupDirectory(settings.backups_path)
    await in_thread(directory.secure)  # 0700 folders, 0600 files, checked at start-up
    restorer = Restorer(settings.conninfo, store.mapper, directory, replay)
    jobs = BackupJobs(settings.conninfo, directory, restorer)
    await in_thread(jobs.create_table)
    app[backup_jobs_key] = jobs
    yield
    await in_thread(jobs.wait, JOB_SHUTDOWN_WAIT_SECONDS)
