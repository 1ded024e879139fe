"""POST /api/v1/admin/imports: a dry run answers the plan; otherwise a job imports the file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents, MakeUser
from tests.api.helpers import error_body
from tests.api.timekit import EVERYTHING, listed_entries

IMPORTS = "/api/v1/admin/imports"
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "imports" / "toggl.csv"


def _form(content: bytes, **fields: str) -> FormData:
    form = FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", content, filename="toggl.csv", content_type="text/csv")
    return form


async def _finished(api: TestClient, location: str, user: ApiUser) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = await api.get(location, headers=user.headers)
        assert response.status == 200, await response.text()
        job: dict[str, Any] = (await response.json())["job"]
        if job["state"] != "running":
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"{location} still running")


async def test_a_dry_run_plans_and_a_job_imports_once(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    alice = await make_user("alice", EVERYTHING, email="alice@example.com")
    await make_user("bob", EVERYTHING, full_name="Bob Builder")
    content = SAMPLE.read_bytes()
    before = await count_events()

    dry = await api.post(
        IMPORTS,
        data=_form(content, format="toggl", dry_run="true", timezone="Europe/Berlin"),
        headers=admin.headers,
    )

    assert dry.status == 200, await dry.text()
    plan = (await dry.json())["dry_run"]
    assert plan["entries_to_create"] == 3
    assert plan["clients_to_create"] == ["Acme Corp"]
    assert [p["name"] for p in plan["projects_to_create"]] == ["Website redesign", "Internal"]
    assert plan["problems"] == [{"line": 5, "message": "Start '25:00:00' is not a time of day."}]
    assert await count_events() == before

    started = await api.post(
        IMPORTS,
        data=_form(content, format="toggl", timezone="Europe/Berlin"),
        headers=admin.headers,
    )
    assert started.status == 202, await started.text()
    job = await _finished(api, started.headers["Location"], admin)
    assert job["state"] == "done", job
    assert job["kind"] == "import"
    assert job["filename"] == "toggl.csv"  # the upload's name
    assert job["result"]["entries_created"] == 3
    assert job["result"]["read_models_caught_up"] is True  # done means listed
    entries = await listed_entries(api, alice, "?start_date=2024-01-01&end_date=2024-01-31")
    assert [(e["start_time"], e["duration_hours"], e["source"]) for e in entries] == [
        ("2024-01-15T09:30:00Z", 0.25, "import:toggl"),
        ("2024-01-15T08:00:00Z", 1.5, "import:toggl"),
    ]

    events = await count_events()
    again = await api.post(
        IMPORTS,
        data=_form(content, format="toggl", timezone="Europe/Berlin"),
        headers=admin.headers,
    )
    job = await _finished(api, again.headers["Location"], admin)
    assert job["result"]["entries_created"] == 0
    assert job["result"]["already_imported"] == 3
    assert job["result"]["read_models_caught_up"] is True  # nothing to wait for
    assert await count_events() == events


async def test_imports_are_for_admins_and_bad_options_are_400(
    api: TestClient, admin: ApiUser, make_user: MakeUser
) -> None:
    alice = await make_user("alice", ["admin:all"])
    content = SAMPLE.read_bytes()
    response = await api.post(IMPORTS, data=_form(content, format="toggl"), headers=alice.headers)
    await error_body(response, 403, "forbidden")

    response = await api.post(IMPORTS, data=_form(content, format="excel"), headers=admin.headers)
    body = await error_body(response, 400, "validation_error")
    assert list(body["errors"]) == ["format"]
    response = await api.post(
        IMPORTS, data=_form(content, format="harvest", dry_run="true"), headers=admin.headers
    )
    body = await error_body(response, 400, "validation_error")
    assert "lacks" in body["errors"]["file"][0]
    response = await api.post(
        IMPORTS, data=_form(content, format="toggl", user="nobody"), headers=admin.headers
    )
    body = await error_body(response, 400, "validation_error")
    assert list(body["errors"]) == ["user"]
    response = await api.post(
        IMPORTS, data=_form(content, format="toggl", timezone="Mars/Olympus"), headers=admin.headers
    )
    assert list((await error_body(response, 400, "validation_error"))["errors"]) == ["timezone"]
    response = await api.post(IMPORTS, json={"format": "toggl"}, headers=admin.headers)
    await error_body(response, 415, "unsupported_media_type")

    # A part header aiohttp cannot read (a control character in a name) was a 500 (the fuzzer).
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="a\x08b"\r\n\r\nx\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    for key in ({}, {"Idempotency-Key": "bad-header"}):
        response = await api.post(IMPORTS, data=body, headers={**admin.headers, **multipart, **key})
        body_of = await error_body(response, 400, "validation_error")
        assert list(body_of["errors"]) == ["_form"]


async def test_an_import_under_an_idempotency_key_runs_once(
    api: TestClient, admin: ApiUser, make_user: MakeUser, count_events: CountEvents
) -> None:
    """The key's hash reads the body first; the form is then read from memory (it was a 400
    "Malformed multipart body"), and a form sent again under a new boundary is the same."""
    await make_user("alice", EVERYTHING, email="alice@example.com")
    await make_user("bob", EVERYTHING, full_name="Bob Builder")
    keyed = {**admin.headers, "Idempotency-Key": "import-1"}
    form = {"format": "toggl", "timezone": "Europe/Berlin"}

    first = await api.post(IMPORTS, data=_form(SAMPLE.read_bytes(), **form), headers=keyed)

    assert first.status == 202, await first.text()
    job = await _finished(api, first.headers["Location"], admin)
    assert job["result"]["entries_created"] == 3
    events = await count_events()
    again = await api.post(IMPORTS, data=_form(SAMPLE.read_bytes(), **form), headers=keyed)
    assert again.status == 202, await again.text()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (await again.json())["job"]["id"] == job["id"]
    assert await count_events() == events
    other = await api.post(IMPORTS, data=_form(SAMPLE.read_bytes(), format="toggl"), headers=keyed)
    assert other.status == 422, await other.text()  # another form under the same key
