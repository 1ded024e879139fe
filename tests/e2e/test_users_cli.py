"""`timetracker users ...` through real subprocesses: passwords, list, deactivate; the first
start's hint; signing in to the console of a real `serve` with the password set by the CLI."""

from __future__ import annotations

import http.cookiejar
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.service import CLI_TIMEOUT, Server, call, run_cli, timetracker_command

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough console password"


def run_with_input(
    env: dict[str, str], cwd: Path, stdin: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`timetracker ARGS` with `stdin` as its standard input; any exit status."""
    return subprocess.run(
        [timetracker_command(), *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def _user_line(env: dict[str, str], cwd: Path, username: str) -> list[str]:
    listed = run_cli(env, cwd, "users", "list")
    [line] = [row for row in listed.stdout.splitlines() if row.split("\t")[1] == username]
    return line.split("\t")


def test_users_are_created_with_a_password_listed_and_refused_bad_passwords(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    created = run_with_input(
        configured_env,
        tmp_path,
        PASSWORD + "\n",
        "users",
        "create",
        "--username",
        "alice",
        "--admin",
        "--password-stdin",
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().isdigit()
    assert _user_line(configured_env, tmp_path, "alice")[2:5] == ["admin", "active", "password"]

    run_cli(configured_env, tmp_path, "users", "create", "--username", "bob")
    assert _user_line(configured_env, tmp_path, "bob")[2:5] == ["user", "active", "no-password"]

    short = run_with_input(
        configured_env, tmp_path, "short\n", "users", "set-password", "bob", "--password-stdin"
    )
    assert short.returncode == 2
    assert "at least 12 characters" in short.stderr
    no_terminal = run_with_input(configured_env, tmp_path, "", "users", "set-password", "bob")
    assert no_terminal.returncode == 2
    assert "--password-stdin" in no_terminal.stderr
    unknown = run_with_input(
        configured_env, tmp_path, PASSWORD, "users", "set-password", "nobody", "--password-stdin"
    )
    assert unknown.returncode == 2
    assert "No user is named 'nobody'" in unknown.stderr

    done = run_with_input(
        configured_env,
        tmp_path,
        PASSWORD + "\n",
        "users",
        "set-password",
        "bob",
        "--password-stdin",
    )
    assert done.returncode == 0, done.stderr
    assert _user_line(configured_env, tmp_path, "bob")[4] == "password"
    # A refused password leaves no user behind.
    refused = run_with_input(
        configured_env,
        tmp_path,
        "short\n",
        "users",
        "create",
        "--username",
        "carol",
        "--password-stdin",
    )
    assert refused.returncode == 2
    listed = run_cli(configured_env, tmp_path, "users", "list").stdout
    assert "carol" not in listed
    for output in (created, done, short):
        assert PASSWORD not in output.stdout + output.stderr
        assert "$argon2" not in output.stdout + output.stderr


def test_a_deactivated_user_s_token_is_refused_by_the_running_server(
    server: Server, configured_env: dict[str, str], tmp_path: Path
) -> None:
    run_cli(configured_env, tmp_path, "users", "create", "--username", "dave")
    issued = run_cli(
        configured_env, tmp_path, "tokens", "create", "--user", "dave", "--scopes", "read:*"
    )
    token = issued.stdout.strip().splitlines()[-1]
    me = f"{server.base_url}/api/v1/users/me"
    assert call("GET", me, token).status == 200
    deactivated = run_cli(configured_env, tmp_path, "users", "deactivate", "dave")
    assert "Deactivated dave" in deactivated.stdout
    refused = call("GET", me, token)
    assert refused.status == 401
    assert refused.body["message"] == "The provided API token is invalid or expired"
    assert _user_line(configured_env, tmp_path, "dave")[3] == "deactivated"
    again = run_with_input(configured_env, tmp_path, "", "users", "deactivate", "dave")
    assert again.returncode == 2
    assert "deactivated already" in again.stderr


def test_the_first_start_says_how_to_set_the_admin_password_which_then_signs_in(
    server: Server, configured_env: dict[str, str], tmp_path: Path
) -> None:
    assert any("timetracker users set-password admin" in line for line in server.stdout)
    set_it = run_with_input(
        configured_env,
        tmp_path,
        PASSWORD + "\n",
        "users",
        "set-password",
        "admin",
        "--password-stdin",
    )
    assert set_it.returncode == 0, set_it.stderr

    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar)
    )
    with browser.open(f"{server.base_url}/admin/login", timeout=15) as form:
        html = form.read().decode()
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None
    body = urllib.parse.urlencode(
        {"csrf_token": match.group(1), "username": "admin", "password": PASSWORD}
    ).encode()
    with browser.open(f"{server.base_url}/admin/login", data=body, timeout=15) as signed_in:
        assert signed_in.url == f"{server.base_url}/admin/"
        assert "<h1>Dashboard</h1>" in signed_in.read().decode()
    # Neither the password nor its hash reached the server's output.
    output = server.output()
    assert PASSWORD not in output
    assert "$argon2" not in output
