"""Two `timetracker serve` processes on one Redis share each token's rate limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.service import Server, call

pytestmark = pytest.mark.e2e


def test_two_processes_admit_exactly_the_limit_in_total(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**configured_env, "RATE_LIMIT_PER_MINUTE": "10", "RATE_LIMIT_PER_HOUR": "0"}
    first, second = Server(env, tmp_path), Server(env, tmp_path)
    try:
        first.start()
        token = first.admin_token()
        assert token is not None, first.output()
        second.start()
        statuses = [
            call("GET", f"{server.base_url}/api/v1/projects", token).status
            for _ in range(10)
            for server in (first, second)
        ]
    finally:
        first.kill()
        second.kill()
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 10, statuses
