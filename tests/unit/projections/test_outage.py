"""An outage is logged once, summarised with growing gaps, and logged once when over."""

from __future__ import annotations

import logging

import pytest

from timetracker.projections.engine.outage import Outage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_then_summaries_with_backoff_then_one_line_when_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outage = Outage("Projection x", logging.getLogger("test.outage"), clock=clock)
    delays = []
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        for _ in range(120):  # two minutes of a failure a second
            delays.append(outage.failed(ConnectionError("refused")))
            clock.now += 1
        outage.succeeded()
        outage.succeeded()  # nothing to report twice
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "Projection x failed: ConnectionError: refused; retrying quietly"
    summaries = [line for line in lines if "still failing" in line]
    assert [s.split(" after ")[1].split(" s ")[0] for s in summaries] == ["10", "30", "70"]
    assert lines[-1] == "Projection x works again after 120 s (120 failures)"
    assert len(lines) == 5
    assert delays[:5] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert not outage.ongoing


def test_a_new_outage_starts_over(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = Outage("Redis", logging.getLogger("test.outage"), clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        outage.failed(OSError("down"))
        outage.succeeded()
        assert outage.failed(OSError("down again")) == 1.0
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "Redis failed",
        "Redis works again after 0 s (1 failures)",
        "Redis failed",
    ]
