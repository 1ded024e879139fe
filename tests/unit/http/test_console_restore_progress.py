"""What the Restore page shows of a restore job: phase shares, counts, time left, next steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from timetracker.http.console.restoring import NEXT_STEPS, restore_progress


def _job(state: str, phase: str, done: int, total: int, **extra: Any) -> dict[str, Any]:
    started = datetime.now(UTC) - timedelta(seconds=10)
    return {
        "state": state,
        "phase": phase,
        "done": done,
        "total": total,
        "result": None,
        "started_at": started,
        "finished_at": None,
        **extra,
    }


def test_each_phase_counts_for_its_share_of_the_whole() -> None:
    assert restore_progress(_job("running", "starting", 0, 0))["percent"] == 0.0
    assert restore_progress(_job("running", "safety backup", 50, 100))["percent"] == 10.0
    loading = restore_progress(_job("running", "load", 30, 60))
    assert (loading["percent"], loading["events_loaded"]) == (40.0, 30)
    replaying = restore_progress(_job("running", "read models", 45, 60))
    assert replaying["percent"] == 90.0
    assert (replaying["events_loaded"], replaying["read_models_done"]) == (60, 45)


def test_time_left_is_estimated_from_the_pace_so_far() -> None:
    halfway = restore_progress(_job("running", "load", 30, 40))  # 50 % after 10 s
    assert halfway["seconds_left"] is not None
    assert 9.0 <= halfway["seconds_left"] <= 11.0
    assert restore_progress(_job("running", "starting", 0, 0))["seconds_left"] is None


def test_a_finished_restore_shows_its_counts_and_a_failed_one_what_to_do() -> None:
    started = datetime.now(UTC) - timedelta(seconds=60)
    done = restore_progress(
        _job(
            "done",
            "done",
            9,
            9,
            result={"events": 9, "read_models": {"projects": 9}},
            started_at=started,
            finished_at=started + timedelta(seconds=4),
        )
    )
    assert (done["percent"], done["events_loaded"], done["read_models"]) == (
        100.0,
        9,
        {"projects": 9},
    )
    assert (done["seconds_elapsed"], done["seconds_left"], done["next_steps"]) == (4.0, None, None)
    failed = restore_progress(_job("failed", "failed", 3, 9))
    assert failed["next_steps"] == NEXT_STEPS
    assert "maintenance off" in NEXT_STEPS and "rebuild" in NEXT_STEPS
