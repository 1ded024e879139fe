"""RFC 3339 times in answers: UTC with a Z, microseconds only when there are any; hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import orjson
import pytest

from timetracker.eventlog.documents import rfc3339
from timetracker.http.responses import json_response, utc
from timetracker.http.time_entries import hours

TIMES = [
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
]


@pytest.mark.parametrize(("value", "text"), TIMES)
def test_times_are_written_in_utc_with_a_z(value: datetime | None, text: str | None) -> None:
    assert rfc3339(value) == text


@pytest.mark.parametrize("value", [case[0] for case in TIMES])
def test_a_time_in_a_json_body_reads_as_rfc3339_writes_it(value: datetime | None) -> None:
    body = json_response({"at": utc(value), "times": [utc(value)]}).body
    assert isinstance(body, bytes)
    assert orjson.loads(body) == {"at": rfc3339(value), "times": [rfc3339(value)]}


def _hours_by_decimal(seconds: int) -> float:
    hundredth = Decimal("0.01")
    return float((Decimal(seconds) / 3600).quantize(hundredth, rounding=ROUND_HALF_UP))


def test_hours_round_once_to_two_decimals_halves_away_from_zero() -> None:
    cases = [*range(-400, 400), *range(0, 400_000, 17), 2**53 + 18, -(10**12) - 18]
    assert [hours(s) for s in cases] == [_hours_by_decimal(s) for s in cases]
    assert hours(3 * 1200) == 1.0 and hours(18) == 0.01 and hours(17) == 0.0
