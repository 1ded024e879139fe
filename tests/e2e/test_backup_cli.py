"""Operators back up and restore with `timetracker backup` against running servers (BR-1..BR-3)."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.archives import event_rows, flipped, member_span, repacked
from tests.conftest import ADMIN_URL, _url_with_dbname
from tests.e2e.service import Server, call, run_cli, timetracker_command
from timetracker.backups.archive import EVENTS, MANIFEST

pytestmark = pytest.mark.e2e
WRITERS = 20


@pytest.fixture
def backup_env(configured_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The service's environment with a backup directory of the test's own."""
    return {**configured_env, "BACKUP_DIR": str(tmp_path / "backups")}


@pytest.fixture
def fresh_env(backup_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The same, on a database created for the test (dropped at its end) and new Redis keys."""
    name = f"tt_restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield {
            **backup_env,
            "DATABASE_URL": _url_with_dbname(ADMIN_URL, name),
            "REDIS_PREFIX": f"{backup_env['REDIS_PREFIX']}fresh-{uuid.uuid4().hex[:6]}:",
        }
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`timetracker ARGS`, whatever its exit code."""
    return subprocess.run(
        [timetracker_command(), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _created(server: Server, token: str, path: str, body: dict[str, Any]) -> int:
    answer = call("POST", f"{server.base_url}{path}", token, body)
    assert answer.status == 201, answer.body
    return int(next(iter(v for v in answer.body.values() if isinstance(v, dict)))["id"])


def _history(server: Server, token: str) -> list[str]:
    """Projects, entries (edited, deleted), a timer run; the GETs to compare."""
    project = _created(server, token, "/api/v1/projects", {"name": "Site"})
    entries = [
        _created(
            server,
            token,
            "/api/v1/time-entries",
            {
                "project_id": project,
                "start_time": f"2024-05-0{day}T09:00:00Z",
                "end_time": f"2024-05-0{day}T11:30:00Z",
                "notes": f"day {day}",
            },
        )
        for day in range(1, 5)
    ]
    base = server.base_url
    edited = call("PATCH", f"{base}/api/v1/time-entries/{entries[0]}", token, {"notes": "x"})
    assert edited.status == 200
    assert call("DELETE", f"{base}/api/v1/time-entries/{entries[1]}", token).status == 200
    _created(server, token, "/api/v1/timer/start", {"project_id": project})
    assert call("POST", f"{base}/api/v1/timer/stop", token).status == 200
    return [
        "/api/v1/projects",
        f"/api/v1/projects/{project}",
        "/api/v1/time-entries?per_page=100",
        f"/api/v1/time-entries/{entries[0]}",
        f"/api/v1/time-entries/{entries[1]}",
        "/api/v1/reports/summary?start_date=2024-05-01&end_date=2024-05-31",
        "/api/v1/timer/status",
        "/api/v1/users",
    ]


def _answers(server: Server, token: str, urls: list[str]) -> dict[str, tuple[int, Any]]:
    answers = {}
    for url in urls:
        answer = call("GET", f"{server.base_url}{url}", token)
        answers[url] = (answer.status, answer.body)
    return answers


def test_the_cli_backs_up_verifies_lists_and_restores_into_a_fresh_database(
    fresh_env: dict[str, str], backup_env: dict[str, str], tmp_path: Path
) -> None:
    original = Server(backup_env, tmp_path)
    restored = Server(fresh_env, tmp_path)
    try:
        original.start()
        token = original.admin_token()
        assert token is not None
        urls = _history(original, token)  # each write waits for its read models
        before = _answers(original, token, urls)
        assert [status for status, _ in before.values()].count(200) == len(urls) - 1

        created = run_cli(backup_env, tmp_path, "backup", "create")
        archive = Path(created.stdout.splitlines()[0])
        assert archive.parent == tmp_path / "backups"
        assert "backup: " in created.stderr  # the progress bar's last line
        verified = run_cli(backup_env, tmp_path, "backup", "verify", str(archive))
        assert verified.stdout.startswith(f"{archive}: ok\n  format version 1, ")
        listed = run_cli(backup_env, tmp_path, "backup", "list")
        assert archive.name in listed.stdout.splitlines()[1]
        events = len(event_rows(backup_env["DATABASE_URL"]))

        done = run_cli(fresh_env, tmp_path, "backup", "restore", str(archive))

        assert f"Restored {events:,} events (" in done.stdout, done.stdout
        assert event_rows(fresh_env["DATABASE_URL"]) == event_rows(backup_env["DATABASE_URL"])
        restored.start()
        assert restored.admin_token() is None  # the store is not empty: no new admin
        assert _answers(restored, token, urls) == before
    finally:
        original.kill()
        restored.kill()


def test_damaged_archives_and_stores_with_events_are_refused_with_exit_1(
    backup_env: dict[str, str], tmp_path: Path
) -> None:
    run_cli(backup_env, tmp_path, "users", "create", "--username", "ann")
    archive = tmp_path / "ok.tar"
    run_cli(backup_env, tmp_path, "backup", "create", "--out", str(archive))
    start, length = member_span(archive, EVENTS)
    damaged = {
        "flipped": flipped(archive, start + length // 2, tmp_path / "flipped.tar"),
        "no manifest": repacked(archive, tmp_path / "bare.tar", leave_out=(MANIFEST,)),
        "version 2": repacked(
            archive, tmp_path / "v2.tar", manifest=lambda d: d.update(format_version=2)
        ),
    }
    rows = event_rows(backup_env["DATABASE_URL"])

    for kind, path in damaged.items():
        for args in (("verify", str(path)), ("restore", str(path), "--dry-run", "--force")):
            refused = cli(backup_env, tmp_path, "backup", *args)
            assert refused.returncode == 1, (kind, args, refused.stdout, refused.stderr)
            assert "timetracker: archive rejected: " in refused.stderr, refused.stderr
    assert (
        "has no manifest.json"
        in cli(backup_env, tmp_path, "backup", "verify", str(damaged["no manifest"])).stderr
    )
    assert (
        "Unknown archive format version 2"
        in cli(backup_env, tmp_path, "backup", "verify", str(damaged["version 2"])).stderr
    )
    not_empty = cli(backup_env, tmp_path, "backup", "restore", str(archive))
    assert not_empty.returncode == 1
    assert f"The event store holds {len(rows)} event" in not_empty.stderr
    assert event_rows(backup_env["DATABASE_URL"]) == rows

    forced = run_cli(
        backup_env,
        tmp_path,
        "backup",
        "restore",
        str(archive),
        "--force",
        "--until",
        "2099-01-01T00:00:00Z",
    )
    assert "safety backup of the replaced store: " in forced.stdout
    assert event_rows(backup_env["DATABASE_URL"]) == rows
    listed = run_cli(backup_env, tmp_path, "backup", "list").stdout
    assert "timetracker-safety-" in listed
    status = run_cli(backup_env, tmp_path, "backup", "maintenance")
    assert status.stdout == "Maintenance: off\n"


def test_a_restore_under_twenty_writers_answers_503_and_keeps_no_unacknowledged_write(
    backup_env: dict[str, str], tmp_path: Path
) -> None:
    # One token writes as fast as it can: no rate limits; small pools, to leave connections
    # for the restore.
    unlimited = {"RATE_LIMIT_PER_MINUTE": "0", "RATE_LIMIT_PER_HOUR": "0"}
    backup_env = {**backup_env, **unlimited, "DB_POOL_SIZE": "4", "READ_POOL_SIZE": "4"}
    server = Server(backup_env, tmp_path)
    try:
        server.start()
        token = server.admin_token()
        assert token is not None
        for n in range(5):
            _created(server, token, "/api/v1/projects", {"name": f"kept {n}"})
        archive = tmp_path / "b.tar"
        run_cli(backup_env, tmp_path, "backup", "create", "--out", str(archive))
        outcomes: list[tuple[str, int, Any, dict[str, str], float]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def write(writer: int) -> None:
            n = 0
            while not stop.is_set():
                name = f"w{writer}-{n}"
                sent = time.monotonic()
                answer = call("POST", f"{server.base_url}/api/v1/projects", token, {"name": name})
                with lock:
                    outcomes.append((name, answer.status, answer.body, answer.headers, sent))
                n += 1

        writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
        for thread in writers:
            thread.start()
        time.sleep(0.5)
        restore = run_cli(backup_env, tmp_path, "backup", "restore", str(archive), "--force")
        restored_at = time.monotonic()
        time.sleep(2.0)  # writers carry on after the restore
        stop.set()
        for thread in writers:
            thread.join(timeout=30)

        assert "Restored " in restore.stdout
        assert call("GET", f"{server.base_url}/api/v1/projects", token).status == 200
        with psycopg.connect(backup_env["DATABASE_URL"]) as conn:
            names = {str(row[0]) for row in conn.execute("SELECT name FROM projects")}
        statuses = {status for _, status, _, _, _ in outcomes}
        assert statuses <= {201, 503}, statuses
        refused = [o for o in outcomes if o[1] == 503]
        assert any(body["error_code"] == "maintenance" for _, _, body, _, _ in refused)
        assert all(int(headers["Retry-After"]) > 0 for _, _, _, headers, _ in refused)
        acknowledged = {name for name, status, _, _, _ in outcomes if status == 201}
        assert {name for name, _, _, _, _ in refused} & names == set()  # never acknowledged
        assert names - acknowledged == {f"kept {n}" for n in range(5)}
        after = {
            name for name, status, _, _, sent in outcomes if status == 201 and sent > restored_at
        }
        assert after and after <= names
    finally:
        server.kill()
