"""RFC 3339 times in answers: UTC with a Z, microseconds only when there are any."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from timetracker.http.responses import rfc3339


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 1, 15, 14, 30, tzinfo=UTC), "2024-01-15T14:30:00Z"),
        # what psycopg hands back for a timestamptz read in a UTC session
        (datetime(2024, 1, 15, 14, 30, tzinfo=ZoneInfo("Etc/UTC")), "2024-01-15T14:30:00Z"),
        (datetime(2024, 1, 15, 14, 30, 0, 5, tzinfo=UTC), "2024-01-15T14:30:00.000005Z"),
        (
            datetime(2024, 7, 15, 14, 30, 0, 123000, tzinfo=ZoneInfo("Europe/Paris")),
            "2024-07-15T12:30:00.123000Z",
        ),
        (
            datetime(2024, 1, 15, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
            "2024-01-16T04:30:00Z",
        ),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
        (None, None),
    ],
)
def test_times_are_written_in_utc_with_a_z(value: datetime | None, text: str | None) -> None:
    assert rfc3339(value) == text
