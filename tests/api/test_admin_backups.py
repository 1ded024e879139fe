"""Admins back up and restore over HTTP (BR-2, BR-3): jobs with progress, a dry run before
anything changes, confirmation, names the service gave, size- and type-checked uploads,
3 restore requests a minute, and 503 `maintenance` everywhere but /health meanwhile."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents, MakeUser
from tests.api.helpers import error_body
from tests.archives import flipped, member_span, with_events
from timetracker.backups.archive import EVENTS, create_backup
from timetracker.backups.directory import ARCHIVE_NAME
from timetracker.commands import maintenance
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token, register_user
from timetracker.projections.engine.tracking import wait_for

ApiWith = Callable[..., Awaitable[TestClient]]
BACKUPS = "/api/v1/admin/backups"
RESTORE = "/api/v1/admin/restore"
WAIT_SECONDS = 60.0


async def _admin(api: TestClient, username: str) -> ApiUser:
    """Another admin user with `admin:all` (each has a restore quota of their own)."""
    store = api.app[time_tracking_key]
    loop = asyncio.get_running_loop()
    user_id = await loop.run_in_executor(None, register_user, store, username, None, None, True)
    issued = await loop.run_in_executor(
        None, issue_token, store, username, ["admin:all"], "t", None
    )
    assert await wait_for(api.app[read_pool_key], ["accounts"], issued.position, 5.0)
    return ApiUser(user_id, username, issued.token)


async def _finished(api: TestClient, location: str, user: ApiUser) -> tuple[dict[str, Any], int]:
    """Poll a job until it ends; the job and how many polls met 503 maintenance."""
    deadline = time.monotonic() + WAIT_SECONDS
    in_maintenance = 0
    while time.monotonic() < deadline:
        response = await api.get(location, headers=user.headers)
        if response.status == 503:
            body = await error_body(response, 503, "maintenance")
            assert int(response.headers["Retry-After"]) > 0, body
            in_maintenance += 1
        else:
            assert response.status == 200, await response.text()
            job: dict[str, Any] = (await response.json())["job"]
            if job["state"] != "running":
                return job, in_maintenance
        await asyncio.sleep(0.05)
    raise AssertionError(f"{location} still running after {WAIT_SECONDS} s")


async def _backup(api: TestClient, user: ApiUser) -> dict[str, Any]:
    started = await api.post(BACKUPS, headers=user.headers)
    assert started.status == 202, await started.text()
    job = (await started.json())["job"]
    assert started.headers["Location"] == f"/api/v1/admin/jobs/{job['id']}"
    assert (job["kind"], job["state"]) == ("backup", "running")
    done, _ = await _finished(api, started.headers["Location"], user)
    assert done["state"] == "done", done
    return done


async def _project(api: TestClient, user: ApiUser, name: str) -> int:
    response = await api.post("/api/v1/projects", json={"name": name}, headers=user.headers)
    assert response.status == 201, await response.text()
    return int((await response.json())["project"]["id"])


async def test_admins_back_up_the_store_list_the_backups_and_follow_the_job(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    await _project(api, admin, "Backed up")
    events = await count_events()

    job = await _backup(api, admin)

    assert ARCHIVE_NAME.fullmatch(job["filename"])
    assert job["filename"].startswith("timetracker-backup-")
    assert (job["phase"], job["done"], job["total"], job["error"]) == ("done", events, events, None)
    assert job["result"]["filename"] == job["filename"]
    assert job["result"]["manifest"]["event_count"] == events
    listed = await (await api.get(BACKUPS, headers=admin.headers)).json()
    assert [b["filename"] for b in listed["backups"]] == [job["filename"]]
    entry = listed["backups"][0]
    assert (entry["kind"], entry["event_count"], entry["last_position"]) == (
        "backup",
        events,
        events,
    )
    assert entry["size_bytes"] == job["result"]["size_bytes"]
    assert (entry["format_version"], entry["problem"]) == (1, None)
    assert entry["events_sha256"] == job["result"]["manifest"]["events_sha256"]
    assert await count_events() == events
    normal = await make_user("normal", ["admin:all"])
    reader = await make_user("reader", ["read:*"], admin=True)
    for user, status in ((normal, 403), (reader, 403)):
        for method, path in (
            ("GET", BACKUPS),
            ("POST", BACKUPS),
            ("GET", f"/api/v1/admin/jobs/{job['id']}"),
        ):
            await error_body(
                await api.request(method, path, headers=user.headers), status, "forbidden"
            )
    await error_body(
        await api.get("/api/v1/admin/jobs/999", headers=admin.headers), 404, "not_found"
    )


async def test_a_restore_by_name_needs_confirmation_and_a_name_the_service_gave(
    api: TestClient, admin: ApiUser, settings: Settings, count_events: CountEvents
) -> None:
    job = await _backup(api, admin)
    good = f"{RESTORE}/{job['filename']}"
    events = await count_events()

    # Validation comes first and does not use up the restore quota.
    for body, field in (
        ({}, "confirm"),
        ({"confirm": "yes"}, "confirm"),
        ({"confirm": "RESTORE", "force": "true"}, "force"),
        ({"confirm": "RESTORE", "until": "soon"}, "until"),
    ):
        errors = (
            await error_body(
                await api.post(good, json=body, headers=admin.headers), 400, "validation_error"
            )
        )["errors"]
        assert list(errors) == [field], errors
    confirm = {"confirm": "RESTORE", "force": True, "dry_run": True}
    directory = settings.backups_path
    (directory / "evil.tar").write_bytes((directory / job["filename"]).read_bytes())
    (directory / "timetracker-backup-20240101T000000Z-0badc0de.tar").symlink_to(
        directory / job["filename"]
    )
    answers = [
        await api.post(f"{RESTORE}/evil.tar", json=confirm, headers=admin.headers),
        await api.post(f"{RESTORE}/..%2F..%2Fetc%2Fpasswd", json=confirm, headers=admin.headers),
        await api.post(
            f"{RESTORE}/timetracker-backup-20240101T000000Z-0badc0de.tar",
            json=confirm,
            headers=admin.headers,
        ),
    ]
    assert (await error_body(answers[0], 400, "validation_error"))["errors"] == {
        "filename": [
            "Not a backup filename: expected timetracker-backup-<time>-<id>.tar as listed."
        ]
    }
    await error_body(answers[1], 400, "validation_error")
    await error_body(answers[2], 404, "not_found")  # a link, not an archive the service wrote
    assert await count_events() == events


async def test_the_dry_run_reports_what_a_restore_would_do_and_changes_nothing(
    api: TestClient, admin: ApiUser, count_events: CountEvents, settings: Settings
) -> None:
    job = await _backup(api, admin)
    await _project(api, admin, "After the backup")
    events = await count_events()
    path = f"{RESTORE}/{job['filename']}"

    refused = await api.post(
        path, json={"confirm": "RESTORE", "dry_run": True}, headers=admin.headers
    )
    body = await error_body(refused, 409, "store_not_empty")
    assert body["message"].startswith(f"The event store holds {events} events: restoring replaces")
    dry = await api.post(
        path,
        json={
            "confirm": "RESTORE",
            "dry_run": True,
            "force": True,
            "until": "2099-01-01T00:00:00Z",
        },
        headers=admin.headers,
    )
    assert dry.status == 200, await dry.text()
    report = (await dry.json())["dry_run"]
    manifest = job["result"]["manifest"]
    assert report == {
        "archive": job["filename"],
        "format_version": 1,
        "created_at": manifest["created_at"],
        "events_in_archive": manifest["event_count"],
        "streams_in_archive": manifest["stream_count"],
        "events_sha256": manifest["events_sha256"],
        "events_in_store": events,
        "until": "2099-01-01T00:00:00Z",
        "events_to_restore": manifest["event_count"],
        "last_position": manifest["last_position"],
        "replaces_store": True,
    }
    assert await count_events() == events
    health = await (await api.get("/api/v1/health")).json()
    assert "maintenance" not in health["checks"]

    # A date is read as it is everywhere: through its end.
    by_date = {"confirm": "RESTORE", "dry_run": True, "force": True, "until": "2099-01-01"}
    dry = await api.post(path, json=by_date, headers=admin.headers)
    assert dry.status == 200, await dry.text()
    assert (await dry.json())["dry_run"]["until"] == "2099-01-01T23:59:59.999999Z"


async def test_restore_requests_are_limited_to_three_a_minute_per_user(
    api: TestClient, admin: ApiUser
) -> None:
    job = await _backup(api, admin)
    path = f"{RESTORE}/{job['filename']}"
    body = {"confirm": "RESTORE", "dry_run": True, "force": True}

    statuses = [(await api.post(path, json=body, headers=admin.headers)).status for _ in range(3)]
    limited = await api.post(path, json=body, headers=admin.headers)
    upload = await api.post(RESTORE, data=b"x", headers=admin.headers)

    assert statuses == [200, 200, 200]
    await error_body(limited, 429, "rate_limited")
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["RateLimit-Policy"] == '"restore";q=3;w=60'
    await error_body(upload, 429, "rate_limited")  # uploads share the quota
    other = await _admin(api, "other")
    assert (await api.post(path, json=body, headers=other.headers)).status == 200


def _form(content: bytes, content_type: str = "application/x-tar", **fields: str) -> FormData:
    form = FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", content, filename="backup.tar", content_type=content_type)
    return form


async def test_uploads_are_size_limited_type_checked_and_dry_run_before_anything_changes(
    api_with: ApiWith, settings: Settings, tmp_path: Path, count_events: CountEvents
) -> None:
    api = await api_with(backup_upload_max_bytes=64 * 1024)
    admins = [await _admin(api, f"admin{n}") for n in range(4)]
    await _project(api, admins[0], "Kept")
    archive = tmp_path / "b.tar"
    await asyncio.get_running_loop().run_in_executor(
        None, create_backup, settings.conninfo, archive
    )
    good = archive.read_bytes()
    start, length = member_span(archive, EVENTS)
    damaged = flipped(archive, start + length // 2, tmp_path / "damaged.tar").read_bytes()
    events = await count_events()
    confirm = {"confirm": "RESTORE", "force": "true"}

    cases = [
        (admins[0], _form(good + b"\0" * 64 * 1024, **confirm), 413, "payload_too_large"),
        (admins[0], _form(good, "text/plain", **confirm), 415, "unsupported_media_type"),
        (
            admins[0],
            _form(b"\0" * 4096, "application/octet-stream", **confirm),
            415,
            "unsupported_media_type",
        ),
        (admins[1], _form(good, confirm="yes", force="true"), 400, "validation_error"),
        (admins[1], _form(good, **confirm, color="red"), 400, "validation_error"),
        (admins[1], _form(good, **confirm, until="later"), 400, "validation_error"),
        (admins[2], _form(damaged, **confirm), 422, "archive_invalid"),
        (admins[2], _form(good, confirm="RESTORE"), 409, "store_not_empty"),
    ]
    for user, form, status, code in cases:
        body = await error_body(
            await api.post(RESTORE, data=form, headers=user.headers), status, code
        )
        if code == "archive_invalid":
            assert body["message"].startswith("The dry run rejected the archive: ")
    not_multipart = await api.post(RESTORE, json={"confirm": "RESTORE"}, headers=admins[3].headers)
    await error_body(not_multipart, 415, "unsupported_media_type")
    no_file = FormData(default_to_multipart=True)
    no_file.add_field("confirm", "RESTORE")
    await error_body(
        await api.post(RESTORE, data=no_file, headers=admins[3].headers), 400, "validation_error"
    )
    dry = await api.post(
        RESTORE, data=_form(good, **confirm, dry_run="true"), headers=admins[3].headers
    )
    assert dry.status == 200, await dry.text()
    assert (await dry.json())["dry_run"]["events_to_restore"] == events

    assert await count_events() == events
    assert list((settings.backups_path / "uploads").iterdir()) == []  # nothing kept
    with psycopg.connect(settings.conninfo) as conn:
        assert maintenance.read_state(conn) is None


async def test_an_uploaded_backup_replaces_the_store_and_the_api_answers_503_meanwhile(
    api: TestClient, admin: ApiUser, settings: Settings, count_events: CountEvents
) -> None:
    kept = await _project(api, admin, "Kept")
    job = await _backup(api, admin)
    backed_up = job["result"]["manifest"]["event_count"]
    lost = await _project(api, admin, "Lost")
    late = await _admin(api, "late")  # not in the backup
    assert (await api.get(BACKUPS, headers=late.headers)).status == 200  # its lookup cached
    replaced = await count_events()
    content = (settings.backups_path / job["filename"]).read_bytes()

    started = await api.post(
        RESTORE, data=_form(content, confirm="RESTORE", force="true"), headers=admin.headers
    )
    assert started.status == 202, await started.text()
    body = await started.json()
    assert (body["job"]["kind"], body["dry_run"]["events_in_store"]) == ("restore", replaced)
    done, in_maintenance = await _finished(api, started.headers["Location"], admin)

    assert done["state"] == "done", done
    result = done["result"]
    assert (result["events"], result["events_sha256"]) == (
        backed_up,
        job["result"]["manifest"]["events_sha256"],
    )
    assert result["safety_backup"].startswith("timetracker-safety-")
    assert await count_events() == backed_up
    # Until this process sees maintenance end (at most a second), it answers 503.
    deadline = time.monotonic() + 5
    while (
        response := await api.get(f"/api/v1/projects/{kept}", headers=admin.headers)
    ).status == 503:
        in_maintenance += 1
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert response.status == 200
    assert in_maintenance > 0
    await error_body(
        await api.get(f"/api/v1/projects/{lost}", headers=admin.headers), 404, "not_found"
    )
    await error_body(await api.get(BACKUPS, headers=late.headers), 401, "unauthorized")
    listed = (await (await api.get(BACKUPS, headers=admin.headers)).json())["backups"]
    safety = next(b for b in listed if b["filename"] == result["safety_backup"])
    assert (safety["kind"], safety["event_count"]) == ("safety", replaced)
    assert list((settings.backups_path / "uploads").iterdir()) == []


async def test_in_maintenance_every_route_but_health_answers_503_with_retry_after(
    api: TestClient, admin: ApiUser, settings: Settings, count_events: CountEvents
) -> None:
    events = await count_events()
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        maintenance.enter(conn, "restore", retry_after=17)
        try:
            health = await api.get("/api/v1/health")
            assert (health.status, health.headers["Retry-After"]) == (503, "17")
            checks = (await health.json())["checks"]
            assert checks["maintenance"]["status"] == "active"
            assert checks["maintenance"]["reason"] == "restore"
            for method, path, headers in (
                ("GET", "/api/v1/projects", admin.headers),
                ("GET", "/api/v1/projects", {}),
                ("POST", "/api/v1/projects", admin.headers),
                ("GET", "/api/v1/info", {}),
                ("GET", "/api/v1/admin/backups", admin.headers),
                ("GET", "/api/v1/nowhere", {}),
            ):
                response = await api.request(method, path, json={"name": "No"}, headers=headers)
                body = await error_body(response, 503, "maintenance")
                assert response.headers["Retry-After"] == "17", body
            assert (await api.get("/api/docs/openapi.json")).status == 200
        finally:
            maintenance.leave(conn)
    assert (await api.get("/api/v1/health")).status == 200
    assert (await api.get("/api/v1/projects", headers=admin.headers)).status == 200
    assert await count_events() == events


async def test_an_upload_with_a_part_header_that_cannot_be_read_is_400(
    api: TestClient,
) -> None:
    """A control character in a part's name: aiohttp's parser refuses the header (a 500)."""
    admin = await _admin(api, "root")
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="a\x08b"\r\n\r\nx\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    headers = {**admin.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await api.post(RESTORE, data=body, headers=headers)
    assert list((await error_body(response, 400, "validation_error"))["errors"]) == ["_form"]


async def test_an_upload_whose_states_cannot_be_decoded_is_422_and_never_kept(
    api: TestClient, admin: ApiUser, settings: Settings, tmp_path: Path, count_events: CountEvents
) -> None:
    await _project(api, admin, "Kept")
    archive = tmp_path / "b.tar"
    await asyncio.get_running_loop().run_in_executor(
        None, create_backup, settings.conninfo, archive
    )

    def not_an_object(lines: list[bytes]) -> list[bytes]:
        fields = orjson.loads(lines[0])
        fields[4] = base64.b64encode(b"[1, 2]").decode()
        return [orjson.dumps(fields) + b"\n", *lines[1:]]

    bad = with_events(archive, tmp_path / "bad.tar", not_an_object).read_bytes()
    events = await count_events()
    for fields in (
        {"dry_run": "true", "until": "2100-01-01T00:00:00Z"},
        {"dry_run": "true"},
        {},
    ):
        form = _form(bad, confirm="RESTORE", force="true", **fields)
        body = await error_body(
            await api.post(RESTORE, data=form, headers=admin.headers), 422, "archive_invalid"
        )
        assert "cannot decode" in body["message"]
        assert list((settings.backups_path / "uploads").iterdir()) == []
    assert await count_events() == events
    with psycopg.connect(settings.conninfo) as conn:
        assert maintenance.read_state(conn) is None
    assert list(settings.backups_path.glob("timetracker-safety-*")) == []  # no safety backup
