"""What an operator meets first, through the real `timetracker` command: start-up errors in
one line, validated `--port`/`--workers`, `--version`, scopes, expiries, dates, dry runs, and
output without log noise or half-drawn progress bars."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.e2e.service import CLI_TIMEOUT, Server, call, run_cli, service_env, timetracker_command
from timetracker.domain.scopes import KNOWN_SCOPES

pytestmark = pytest.mark.e2e

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [timetracker_command(), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def _one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The command failed with `code` and said why in one line (no traceback)."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    last = lines[-1]
    for word in words:
        assert word in last, (word, done.stderr)
    return last


def test_version(tmp_path: Path) -> None:
    done = _run(service_env(), tmp_path, "--version")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"timetracker \d+\.\d+\.\d+\S*\n", done.stdout), done.stdout


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (("serve", "--port", "99999"), {}, ("between 0 and 65535", "99999")),
        (("serve", "--port", "-1"), {}, ("between 0 and 65535",)),
        (("serve", "--port", "http"), {}, ("whole number",)),
        (("serve", "--workers", "0"), {}, ("at least 1 worker",)),
        (("serve",), {"PORT": "99999"}, ("PORT", "between 0 and 65535")),
        (("serve",), {"PORT": "eighty"}, ("PORT", "integer")),
    ],
)
def test_port_and_workers_are_validated_before_anything_starts(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], words: tuple[str, ...]
) -> None:
    done = _run(service_env(TIMETRACKER_DATA_DIR=str(tmp_path / "data"), **env), tmp_path, *args)
    _one_line_error(done, 2, *words)
    assert not (tmp_path / "data").exists()  # nothing was started


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_taken_port_is_named_in_one_line(
    configured_env: dict[str, str], tmp_path: Path, workers: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**configured_env, "HOST": "127.0.0.1", "PORT": str(port)}
        done = _run(env, tmp_path, "serve", "--workers", workers)
    _one_line_error(done, 1, f"127.0.0.1:{port}", "address already in use")


@pytest.mark.parametrize(
    ("database", "words"),
    [
        ("/tt_no_such_database_i24", ('database "tt_no_such_database_i24" does not exist',)),
        ("user", ('role "tt_no_such_role" does not exist',)),
        ("port", ('"127.0.0.1", port 1 failed', "Connection refused")),
        ("not-a-url", ("DATABASE_URL is not a PostgreSQL URL",)),
    ],
)
@pytest.mark.parametrize("command", [("serve",), ("users", "create", "--username", "x")])
def test_a_database_that_cannot_be_used_is_one_line_with_postgresqls_reason(
    configured_env: dict[str, str],
    tmp_path: Path,
    database: str,
    words: tuple[str, ...],
    command: tuple[str, ...],
) -> None:
    url = configured_env["DATABASE_URL"]
    parts = conninfo_to_dict(url)
    bad = {
        "/tt_no_such_database_i24": make_conninfo(url, dbname="tt_no_such_database_i24"),
        "user": make_conninfo(url, user="tt_no_such_role"),
        "port": make_conninfo(url, host="127.0.0.1", port="1"),
        "not-a-url": "not-a-url",
    }[database]
    assert parts["dbname"] != "tt_no_such_database_i24"
    assert bad != url
    started = time.monotonic()
    done = _run({**configured_env, "DATABASE_URL": bad}, tmp_path, *command)
    _one_line_error(done, 2, *words)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert time.monotonic() - started < 15


def test_an_unreachable_redis_is_one_line(configured_env: dict[str, str], tmp_path: Path) -> None:
    done = _run({**configured_env, "REDIS_URL": "redis://127.0.0.1:1/0"}, tmp_path, "serve")
    _one_line_error(done, 2, "cannot use Redis", "Connection refused")


def test_scopes_are_listed_by_the_help_and_by_the_unknown_scope_error(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    helped = run_cli(configured_env, tmp_path, "tokens", "create", "--help")
    flat = " ".join(helped.stdout.split())
    for scope in KNOWN_SCOPES:
        assert scope in flat, (scope, helped.stdout)
    run_cli(configured_env, tmp_path, "users", "create", "--username", "alice")
    refused = _run(
        configured_env, tmp_path, "tokens", "create", "--user", "alice", "--scopes", "read:all"
    )
    line = _one_line_error(refused, 2, "Unknown scopes: read:all", "Valid scopes:")
    for scope in KNOWN_SCOPES:
        assert scope in line, (scope, line)


@pytest.mark.parametrize("days", ["0", "-3"])
def test_a_token_that_would_never_expire_by_accident_is_refused(
    configured_env: dict[str, str], tmp_path: Path, days: str
) -> None:
    run_cli(configured_env, tmp_path, "users", "create", "--username", "alice")
    refused = _run(
        configured_env,
        tmp_path,
        "tokens",
        "create",
        "--user",
        "alice",
        "--scopes",
        "read:*",
        f"--expires-in-days={days}",
    )
    _one_line_error(refused, 2, "at least 1 day")
    listed = run_cli(configured_env, tmp_path, "tokens", "list")
    assert listed.stdout == ""  # nothing was issued
    issued = run_cli(
        configured_env,
        tmp_path,
        *("tokens", "create", "--user", "alice", "--scopes", "read:*", "--expires-in-days", "1"),
    )
    assert issued.stdout.splitlines()[-1].startswith("tt_")


def test_dates_are_read_as_the_api_reads_them(
    server: Server, configured_env: dict[str, str], tmp_path: Path
) -> None:
    token = server.admin_token()
    assert token is not None
    created = call("POST", f"{server.base_url}/api/v1/clients", token, {"name": "Dated"})
    assert created.status == 201, created.body
    today = time.strftime("%Y-%m-%d", time.gmtime())
    everything = run_cli(configured_env, tmp_path, "audit", "export", "--since", "2024-01-01")
    events = [json.loads(line) for line in everything.stdout.splitlines()]
    assert "ClientCreated" in {e["event"] for e in events}
    # A plain date as the end includes that whole day, as `end_date` does in the API.
    through_today = run_cli(
        configured_env, tmp_path, "audit", "export", "--since", today, "--until", today
    )
    assert through_today.stdout == everything.stdout
    before = run_cli(configured_env, tmp_path, "audit", "export", "--until", "2024-01-01")
    assert before.stdout == ""
    refused = _run(configured_env, tmp_path, "audit", "export", "--since", "2024-02-30")
    _one_line_error(refused, 2, "Not a real date")


def test_a_dry_run_reports_on_a_store_with_events(
    server: Server, configured_env: dict[str, str], tmp_path: Path
) -> None:
    token = server.admin_token()
    assert token is not None
    archive = tmp_path / "store.tar"
    run_cli(configured_env, tmp_path, "backup", "create", "--out", str(archive))
    call("POST", f"{server.base_url}/api/v1/clients", token, {"name": "After the backup"})
    dry = run_cli(configured_env, tmp_path, "backup", "restore", str(archive), "--dry-run")
    assert f"{archive}: ok" in dry.stdout, dry.stdout
    assert "a restore would refuse without --force" in dry.stdout, dry.stdout
    assert "Dry run: nothing was changed." in dry.stdout
    # ...and it did change nothing.
    listed = call("GET", f"{server.base_url}/api/v1/clients", token)
    assert [c["name"] for c in listed.body["clients"]] == ["After the backup"]


def test_cli_output_has_no_info_lines_unless_verbose_and_no_bars_when_piped(
    server: Server, configured_env: dict[str, str], tmp_path: Path
) -> None:
    token = server.admin_token()
    assert token is not None
    for n in range(30):
        call("POST", f"{server.base_url}/api/v1/clients", token, {"name": f"Client {n}"})
    quiet = run_cli(configured_env, tmp_path, "projections", "rebuild", "--all")
    assert " INFO " not in quiet.stderr, quiet.stderr
    assert "\r" not in quiet.stderr and "━" not in quiet.stderr, quiet.stderr
    summaries = quiet.stderr.splitlines()
    assert summaries and all(re.match(r"^rebuild \w+: [\d,]+ events in ", s) for s in summaries)
    for line in summaries:
        rate = re.search(r"\(([\d,]+)/s\)$", line)
        assert rate is not None and int(rate.group(1).replace(",", "")) > 0, line
    verbose = run_cli(configured_env, tmp_path, "--verbose", "projections", "rebuild", "clients")
    assert re.search(r" INFO .*Rebuilt clients", verbose.stderr), verbose.stderr


def _in_a_terminal(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run the command with a pseudo-terminal as its stdout and stderr; what it drew."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [timetracker_command(), *args],
        env={**env, "TERM": "xterm", "COLUMNS": "120"},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    drawn = b""
    deadline = time.monotonic() + CLI_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            drawn += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    assert process.wait(timeout=10) == 0, drawn.decode(errors="replace")
    return drawn.decode(errors="replace")


def test_in_a_terminal_bars_end_their_line_and_log_lines_never_land_in_them(
    server: Server, configured_env: dict[str, str], tmp_path: Path
) -> None:
    token = server.admin_token()
    assert token is not None
    for n in range(30):
        call("POST", f"{server.base_url}/api/v1/clients", token, {"name": f"Client {n}"})
    drawn = _in_a_terminal(configured_env, tmp_path, "--verbose", "projections", "rebuild", "--all")
    assert drawn.endswith("\n"), repr(drawn[-200:])
    # What a reader sees: each line as it stands after its last carriage return.
    # (A terminal's line ends with "\r\n".)
    lines = [ANSI.sub("", line).rstrip("\r") for line in drawn.split("\n")]
    seen = [line.rsplit("\r", 1)[-1].strip() for line in lines]
    logged = [line for line in seen if "Rebuilt " in line]
    assert len(logged) >= 8, seen
    for line in logged:
        assert "━" not in line and "%" not in line, line
    summaries = [line for line in seen if re.match(r"^rebuild \w+: [\d,]+ events in ", line)]
    assert len(summaries) == len(logged), seen


def test_serve_says_it_stopped_cleanly(configured_env: dict[str, str], tmp_path: Path) -> None:
    for args in ((), ("--workers", "2")):
        server = Server(configured_env, tmp_path, args=args)
        try:
            server.start()
            assert server.stop(signal.SIGTERM) == 0, server.output()
        finally:
            server.kill()
        assert server.stdout[-1] == "timetracker: stopped cleanly", server.output()
        assert not [line for line in server.stderr if " WARNING " in line], server.output()


def test_a_user_email_must_be_an_address(configured_env: dict[str, str], tmp_path: Path) -> None:
    refused = _run(
        configured_env, tmp_path, "users", "create", "--username", "bob", "--email", "not-an-email"
    )
    _one_line_error(refused, 2, "Not a valid email address")
    run_cli(configured_env, tmp_path, "users", "create", "--username", "bob", "--email", "b@x.io")
