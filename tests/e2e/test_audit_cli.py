"""The auditor's CLI on a real service's store: `timetracker audit history` and `audit export`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.service import CLI_TIMEOUT, Server, call, run_cli, timetracker_command

pytestmark = pytest.mark.e2e


def _admin_token(server: Server) -> str:
    token = server.admin_token()
    assert token is not None, server.output()
    return token


def _write(server: Server, token: str, method: str, path: str, body: Any, request_id: str) -> Any:
    response = call(
        method, f"{server.base_url}/api/v1{path}", token, body, {"X-Request-ID": request_id}
    )
    assert response.status in (200, 201), response.body
    return response.body


def _moment() -> str:
    time.sleep(0.05)
    moment = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.05)
    return moment


def _lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines()]


def test_history_prints_every_version_as_the_api_shows_it(
    server: Server, configured_env: dict[str, str], tmp_path: Path
) -> None:
    token = _admin_token(server)
    project = _write(server, token, "POST", "/projects", {"name": "Audit"}, "r1")["project"]
    entry = _write(
        server,
        token,
        "POST",
        "/time-entries",
        {
            "project_id": project["id"],
            "start_time": "2024-01-15T09:00:00Z",
            "end_time": "2024-01-15T10:00:00Z",
        },
        "r2",
    )["time_entry"]
    _write(server, token, "PATCH", f"/time-entries/{entry['id']}", {"notes": "checked"}, "r3")
    _write(server, token, "DELETE", f"/time-entries/{entry['id']}", None, "r4")
    api_history = call(
        "GET", f"{server.base_url}/api/v1/time-entries/{entry['id']}/history", token
    ).body["history"]

    jsonl = run_cli(
        configured_env, tmp_path, "audit", "history", "time-entries", str(entry["id"]),
        "--format", "jsonl",
    )  # fmt: skip
    text = run_cli(configured_env, tmp_path, "audit", "history", "entry", str(entry["id"]))

    assert _lines(jsonl.stdout) == api_history
    assert [h["event"] for h in api_history] == ["EntryCreated", "EntryEdited", "EntryDeleted"]
    lines = text.stdout.splitlines()
    headings = [line for line in lines if line.startswith("v")]
    prefix = token[:8]
    assert headings == [
        f"v{h['version']}  {h['at']}  position {h['position']}  {h['event']}"
        f"  by admin ({prefix})  request {h['request_id']}"
        for h in api_history
    ]
    assert '    notes: null -> "checked"' in lines
    assert "    deleted: false -> true" in lines


def test_history_of_a_missing_resource_fails_with_a_message(
    server: Server, configured_env: dict[str, str], tmp_path: Path
) -> None:
    for args, message in [
        (["audit", "history", "project", "42"], "No project 42 in the event store."),
        (["audit", "history", "invoice", "1"], "unknown resource 'invoice'"),
    ]:
        done = subprocess.run(
            [timetracker_command(), *args],
            env=configured_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        assert done.returncode == 2, done
        assert message in done.stderr
        assert done.stdout == ""


def test_export_streams_the_events_of_a_window_with_their_actors(
    server: Server, configured_env: dict[str, str], tmp_path: Path
) -> None:
    token = _admin_token(server)
    _write(server, token, "POST", "/clients", {"name": "Before"}, "early")
    since = _moment()
    project = _write(server, token, "POST", "/projects", {"name": "Inside"}, "in-1")["project"]
    _write(server, token, "PATCH", f"/projects/{project['id']}", {"name": "Inside 2"}, "in-2")
    until = _moment()
    _write(server, token, "POST", "/clients", {"name": "After"}, "late")
    feed = call("GET", f"{server.base_url}/api/v1/events?limit=1000", token).body["events"]

    jsonl = run_cli(configured_env, tmp_path, "audit", "export", "--since", since, "--until", until)
    everything = run_cli(configured_env, tmp_path, "audit", "export", "--format", "csv")

    exported = _lines(jsonl.stdout)
    start, end = datetime.fromisoformat(since), datetime.fromisoformat(until)
    assert exported == [e for e in feed if start <= datetime.fromisoformat(e["at"]) < end]
    assert [(e["event"], e["request_id"]) for e in exported] == [
        ("ProjectCreated", "in-1"),
        ("ProjectUpdated", "in-2"),
    ]
    assert exported[0]["actor"] == {
        "user_id": 1,
        "username": "admin",
        "token_prefix": token[:8],
    }
    assert "audit export: 2 events written" in jsonl.stderr
    rows = list(csv.DictReader(io.StringIO(everything.stdout)))
    assert [int(r["position"]) for r in rows] == [e["position"] for e in feed]
    assert [r["event"] for r in rows][:3] == ["UserRegistered", "ApiTokenIssued", "ClientCreated"]
    issued = rows[1]
    assert (issued["resource"], issued["user_id"], issued["username"]) == ("api_token", "", "")
    assert "token_hash" not in issued["data"]
    assert json.loads(issued["data"])["prefix"] == token[:8]
    late = rows[-1]
    assert (late["event"], late["request_id"], late["username"]) == (
        "ClientCreated",
        "late",
        "admin",
    )
    assert json.loads(late["data"])["fields"]["name"] == "After"
    assert f"audit export: {len(rows)} events written" in everything.stderr
