"""/admin/imports: upload another tracker's CSV export, read the dry run, start the import job.

Both buttons of `static/imports.js` send the same multipart form as the JSON API's
`POST /api/v1/admin/imports` (CSRF token in `X-CSRF-Token`), read by that module's own form
reader; the file is planned by the same `Importer`. `POST /admin/imports/dry-run` answers
the plan, `POST /admin/imports/start` plans the file again and starts the job, which the page
then follows through `restoring.get_job`.
"""

from __future__ import annotations

from aiohttp import web

from timetracker.backups.jobs import JobRunningError
from timetracker.http.backups import UploadTooSlowError, job_json
from timetracker.http.console.actions import console_stamp
from timetracker.http.console.keys import console_user_key
from timetracker.http.console.rendering import page
from timetracker.http.console.restoring import ConsoleError, jobs_of, refused
from timetracker.http.errors import ApiError
from timetracker.http.imports import import_options, import_work, read_import_form
from timetracker.http.keys import settings_key, time_tracking_key
from timetracker.http.middlewares.body_timeout import streams_body
from timetracker.http.responses import json_response
from timetracker.http.threads import in_thread
from timetracker.imports.formats import FORMATS, ImportFormatError
from timetracker.imports.importer import Importer, ImportPlan, ImportUserError

routes = web.RouteTableDef()
POLL_SECONDS = 1
FORMAT_LABELS = {
    "toggl": "Toggl Track",
    "clockify": "Clockify",
    "harvest": "Harvest",
    "kimai": "Kimai",
    "timetracker": "TimeTracker",
}
FIELD_LABELS = {"file": "File", "format": "Format", "user": "User", "timezone": "Time zone"}


def _readable(error: ApiError) -> ConsoleError:
    """The API's error as one sentence naming the form's fields."""
    if not error.errors:
        return ConsoleError(error.status, error.message)
    parts = [
        f"{FIELD_LABELS.get(name, 'Form')}: {' '.join(messages)}"
        for name, messages in error.errors.items()
    ]
    return ConsoleError(error.status, " ".join(parts))


async def _plan(request: web.Request) -> tuple[Importer, ImportPlan, str]:
    """Read the form as the API does and plan the file (nothing is written); the plan, and
    the file's name."""
    try:
        values, text, filename = await read_import_form(request)
        fmt, _, username, zone = import_options({**values, "dry_run": "true"})
    except ApiError as exc:
        raise _readable(exc) from None
    except UploadTooSlowError:
        raise ConsoleError(408, "The file did not arrive in time; try again.") from None
    importer = Importer(
        request.config_dict[time_tracking_key], request.config_dict[settings_key].conninfo
    )
    try:
        plan: ImportPlan = await in_thread(importer.plan, fmt, text, zone, username)
    except ImportFormatError as exc:
        raise ConsoleError(400, f"File: {exc}") from None
    except ImportUserError as exc:
        raise ConsoleError(400, f"User: {exc}") from None
    return importer, plan, filename or f"{fmt}.csv"


@routes.get("/imports", name="imports")
async def show_imports(request: web.Request) -> web.Response:
    return page(
        request,
        "imports.html",
        {
            "formats": [(name, FORMAT_LABELS[name]) for name in FORMATS],
            "poll": POLL_SECONDS,
            "max_bytes": request.config_dict[settings_key].backup_upload_max_bytes,
        },
    )


@routes.post("/imports/dry-run")
@streams_body
async def check_import(request: web.Request) -> web.Response:
    """The dry run: what importing the file would create, and every unreadable row."""
    try:
        _, plan, _ = await _plan(request)
    except ConsoleError as exc:
        return refused(exc)
    return json_response({"dry_run": plan.summary()})


@routes.post("/imports/start")
@streams_body
async def start_import(request: web.Request) -> web.Response:
    """Plan the file again (it may differ from the one checked), then start the import job."""
    try:
        importer, plan, label = await _plan(request)
        work = import_work(request, importer, plan, console_stamp(request))
        user_id = int(request[console_user_key]["id"])
        try:
            job = await in_thread(jobs_of(request).start, "import", label, user_id, work)
        except JobRunningError as exc:
            raise ConsoleError(409, str(exc)) from None
    except ConsoleError as exc:
        return refused(exc)
    return json_response({"job": job_json(job), "dry_run": plan.summary()}, status=202)
