"""A process's shared reader of recent events never outlives a restore's wait."""

from __future__ import annotations

from timetracker.commands import maintenance
from timetracker.projections.log_reader import RECENT_SECONDS


def test_recent_stretches_are_forgotten_before_a_restore_can_replace_the_log() -> None:
    # A restore raises maintenance (nothing is written from then on), waits SETTLE_SECONDS,
    # and only then replaces the log: what a runner read before is gone from memory by then.
    assert RECENT_SECONDS < maintenance.SETTLE_SECONDS
