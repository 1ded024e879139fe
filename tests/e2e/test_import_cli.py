"""`timetracker import`: the migration from Toggl in the README, in a real process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg

from tests.e2e.service import run_cli, timetracker_command

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "imports" / "toggl.csv"


def test_a_toggl_export_migrates_in_three_commands(
    configured_env: dict[str, str], tmp_path: Path
) -> None:
    env = configured_env
    for name, email in (("alice", "alice@example.com"), ("bob", "bob@example.com")):
        created = run_cli(env, tmp_path, "users", "create", "--username", name, "--email", email)
        assert created.returncode == 0, created.stderr

    dry = run_cli(
        env, tmp_path, "import", "toggl", str(SAMPLE), "--dry-run", "--timezone", "Europe/Berlin"
    )
    assert dry.returncode == 0, dry.stderr
    assert "3 time entries to create; 0 already imported" in dry.stdout
    assert "client to create: Acme Corp" in dry.stdout
    assert "line 5: Start '25:00:00' is not a time of day." in dry.stdout

    done = run_cli(env, tmp_path, "import", "toggl", str(SAMPLE), "--timezone", "Europe/Berlin")
    assert done.returncode == 0, done.stderr
    assert "created 3 time entries, 1 clients, 2 projects, 1 tasks" in done.stdout

    again = run_cli(env, tmp_path, "import", "toggl", str(SAMPLE), "--timezone", "Europe/Berlin")
    assert "created 0 time entries" in again.stdout
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute(
            "SELECT count(*), sum(duration_seconds) FROM time_entries WHERE source = 'import:toggl'"
        ).fetchone()
    assert row == (3, 9900)

    wrong = subprocess.run(
        [timetracker_command(), "import", "harvest", str(SAMPLE)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert wrong.returncode == 2
    assert "lacks" in wrong.stderr
