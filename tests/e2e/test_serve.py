"""`timetracker serve` on PostgreSQL and Redis from the environment, driven over HTTP."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.e2e.service import TOKEN_LINE, Server, call, run_cli

pytestmark = pytest.mark.e2e


def _admin_token(server: Server) -> str:
    token = server.admin_token()
    assert token is not None, f"first start printed no admin token\n{server.output()}"
    return token


def test_first_start_prints_an_admin_token_that_grants_everything(server: Server) -> None:
    token = _admin_token(server)

    me = call("GET", f"{server.base_url}/api/v1/users/me", token)

    assert me.status == 200, me.body
    assert me.body["user"]["username"] == "admin"
    assert me.body["user"]["role"] == "admin"
    assert call("GET", f"{server.base_url}/api/v1/projects").status == 401


def test_the_readme_walk_through(server: Server) -> None:
    token = _admin_token(server)
    api = f"{server.base_url}/api/v1"

    client = call("POST", f"{api}/clients", token, {"name": "Acme Corp"})
    assert client.status == 201, client.body
    client_id = client.body["client"]["id"]

    created = call(
        "POST",
        f"{api}/projects",
        token,
        {"name": "Website redesign", "client_id": client_id, "hourly_rate": 95},
    )
    assert created.status == 201, created.body
    project = created.body["project"]
    assert created.headers["Location"] == f"/api/v1/projects/{project['id']}"
    assert project["client"] == "Acme Corp"

    listed = call("GET", f"{api}/projects", token)
    assert listed.status == 200, listed.body
    assert [p["name"] for p in listed.body["projects"]] == ["Website redesign"]
    assert listed.body["pagination"]["total"] == 1

    one = call("GET", f"{api}/projects/{project['id']}", token)
    etag = one.headers["ETag"]
    patched = call(
        "PATCH",
        f"{api}/projects/{project['id']}",
        token,
        {"estimated_hours": 120},
        headers={"If-Match": etag},
    )
    assert patched.status == 200, patched.body
    assert patched.body["project"]["estimated_hours"] == 120
    stale = call(
        "PATCH",
        f"{api}/projects/{project['id']}",
        token,
        {"estimated_hours": 1},
        headers={"If-Match": etag},
    )
    assert stale.status == 412, stale.body

    archived = call("DELETE", f"{api}/projects/{project['id']}", token)
    assert archived.status == 200, archived.body
    after = call("GET", f"{api}/projects/{project['id']}", token)
    assert after.body["project"]["status"] == "archived"


def test_a_cli_token_works_at_once_and_is_refused_once_revoked(
    server: Server, configured_env: dict[str, str], tmp_path: Path
) -> None:
    projects = f"{server.base_url}/api/v1/projects"
    user = run_cli(configured_env, tmp_path, "users", "create", "--username", "alice")
    assert user.stdout.strip().splitlines()[-1].isdigit(), user.stdout

    issued = run_cli(
        configured_env,
        tmp_path,
        "tokens",
        "create",
        "--user",
        "alice",
        "--scopes",
        "read:projects,read:users",
    )
    token = issued.stdout.strip().splitlines()[-1]
    assert TOKEN_LINE.match(token), issued.stdout

    assert call("GET", projects, token).status == 200
    me = call("GET", f"{server.base_url}/api/v1/users/me", token)
    assert me.body["user"]["username"] == "alice"
    forbidden = call("POST", projects, token, {"name": "Not allowed"})
    assert forbidden.status == 403, forbidden.body

    listed = run_cli(configured_env, tmp_path, "tokens", "list", "--user", "alice")
    assert token[:8] in listed.stdout
    assert token not in listed.stdout  # the secret is never shown again

    run_cli(configured_env, tmp_path, "tokens", "revoke", token[:8])

    refused = call("GET", projects, token)
    assert refused.status == 401, refused.body
    assert refused.body["message"] == "The provided API token is invalid or expired"
    assert "revoked" in run_cli(configured_env, tmp_path, "tokens", "list").stdout


def test_serve_stops_on_sigint_and_sigterm_and_a_restart_prints_no_new_token(
    server: Server, tmp_path: Path
) -> None:
    token = _admin_token(server)

    assert server.stop(signal.SIGINT) == 0, server.output()
    server.start()

    assert server.admin_token() is None, server.output()
    assert call("GET", f"{server.base_url}/api/v1/projects", token).status == 200
    assert server.stop() == 0, server.output()
    assert not (tmp_path / "embedded").exists(), "embedded services started despite the URLs"
