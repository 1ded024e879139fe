"""`timetracker projections rebuild --all` while clients read every PostgreSQL read model's
list: no read fails (the README promises rebuilds without downtime)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.service import Server, call, run_cli

pytestmark = pytest.mark.e2e

# Every PostgreSQL read model a request reads, through a list (or, for time_travel and
# report_groups, the report each serves); imported_entries answers no request.
READS = (
    "/projects?per_page=5",
    "/clients?per_page=5",
    "/tasks?per_page=5",
    "/time-entries?per_page=5",
    "/users?per_page=5",
    "/webhooks?per_page=5",
    "/reports/summary?start_date=2024-01-01&end_date=2024-01-31&group_by=project,day",
    "/reports/summary?start_date=2024-01-01&end_date=2024-01-31&as_of={now}",
)
REBUILDS = 3


def _seed(server: Server, token: str) -> None:
    api = f"{server.base_url}/api/v1"
    for n in range(5):
        client = call("POST", f"{api}/clients", token, {"name": f"Client {n}"}).body["client"]
        project = call(
            "POST", f"{api}/projects", token, {"name": f"Project {n}", "client_id": client["id"]}
        ).body["project"]
        call("POST", f"{api}/tasks", token, {"project_id": project["id"], "name": f"Task {n}"})
        entry = {
            "project_id": project["id"],
            "start_time": f"2024-01-{10 + n}T09:00:00Z",
            "end_time": f"2024-01-{10 + n}T10:00:00Z",
        }
        assert call("POST", f"{api}/time-entries", token, entry).status == 201


def test_every_read_succeeds_during_repeated_rebuilds_of_every_read_model(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**configured_env, "RATE_LIMIT_PER_MINUTE": "0", "RATE_LIMIT_PER_HOUR": "0"}
    server = Server(env, tmp_path)
    try:
        server.start()
        token = server.admin_token()
        assert token is not None
        _seed(server, token)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        stop = threading.Event()
        answers: Counter[tuple[str, int]] = Counter()
        failures: list[tuple[str, int, object]] = []

        def read(path: str) -> None:
            while not stop.is_set():
                got = call("GET", f"{server.base_url}/api/v1{path.format(now=now)}", token)
                answers[(path, got.status)] += 1
                if got.status != 200:
                    failures.append((path, got.status, got.body))

        readers = [threading.Thread(target=read, args=(path,)) for path in READS]
        for reader in readers:
            reader.start()
        try:
            for _ in range(REBUILDS):
                run_cli(env, tmp_path, "projections", "rebuild", "--all")
        finally:
            stop.set()
            for reader in readers:
                reader.join(timeout=30)
        problems = [line for line in server.stderr if " WARNING " in line or " ERROR " in line]
        assert not failures, (failures[:5], answers, problems[:10])
        for path in READS:  # every read model was read while it was rebuilt
            assert answers[(path, 200)] >= REBUILDS, answers
    finally:
        server.kill()
