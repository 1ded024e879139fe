"""`timetracker serve` runs the projection runners in a child process of each serving one."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.service import Server, alive, call, projection_children, wait_for

pytestmark = pytest.mark.e2e
RESTARTED_WITHIN = 10.0
VISIBLE_WITHIN = 15.0
FIRST_WRITE_WAIT = 0.5  # seconds


def test_the_projections_child_is_restarted_when_killed_and_stops_with_serve(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    # A short read-your-writes wait: a write answered before the child runs would time out.
    env = dict(configured_env, READ_YOUR_WRITES_TIMEOUT=str(FIRST_WRITE_WAIT))
    server = Server(env, tmp_path, args=("--workers", "1"))
    try:
        server.start()
        assert server.process is not None
        token = server.admin_token()
        assert token is not None, server.output()
        api = f"{server.base_url}/api/v1"
        server_pid = server.process.pid
        assert wait_for(lambda: len(projection_children(server_pid)) == 1, 10.0)
        (first,) = projection_children(server_pid)

        # Read-your-writes holds with the runners in the child, from the first write on:
        # the server listens only once they run. (The child imports the whole app first,
        # most of a second here: a write answered meanwhile timed out, CI saw it once.)
        created = call("POST", f"{api}/projects", token, {"name": "Before"})
        assert created.status == 201, created.body
        assert "X-Read-Your-Writes" not in created.headers, created.headers
        listed = call("GET", f"{api}/projects?per_page=50", token)
        assert [p["name"] for p in listed.body["projects"]] == ["Before"]

        first_killed = time.monotonic()
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: projection_children(server_pid) - {first}, RESTARTED_WITHIN), (
            server.output()
        )
        assert time.monotonic() - first_killed < RESTARTED_WITHIN
        (second,) = projection_children(server_pid)

        # Writes made after the kill become visible: the new child picked up the work.
        call("POST", f"{api}/projects", token, {"name": "After"})

        def both_listed() -> bool:
            names = [p["name"] for p in call("GET", f"{api}/projects", token).body["projects"]]
            return sorted(names) == ["After", "Before"]

        assert wait_for(both_listed, VISIBLE_WITHIN), server.output()
        assert any("restarting it" in line for line in server.stderr), server.output()

        assert server.stop(signal.SIGTERM) == 0, server.output()
        assert not alive(second)
    finally:
        server.kill()
