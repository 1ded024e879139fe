"""Reading each tool's export: columns, dates, durations, time zones, keys (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from timetracker.imports.formats import (
    _DATE_FORMATS,
    _TIME_FORMATS,
    FORMATS,
    MONTH_FIRST,
    ImportFormatError,
    RowError,
    _date,
    _time,
    duration_seconds,
    parse,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "imports"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("01:30:00", 5400), ("1:30", 5400), ("0:06", 360), ("1.5", 5400), ("1,25", 4500)],
)
def test_durations_are_read_as_each_tool_writes_them(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["one", "-1", "nan", ""])
def test_unreadable_durations_are_refused(text: str) -> None:
    with pytest.raises(RowError):
        duration_seconds(text)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_sample_reads_three_rows_and_names_its_bad_line(fmt: str) -> None:
    text = (SAMPLES / f"{fmt}.csv").read_text(encoding="utf-8")
    parsed = parse(fmt, text, ZoneInfo("America/New_York"))
    assert [r.line for r in parsed.rows] == [2, 3, 4]
    assert [p.line for p in parsed.problems] == [5]
    hours = [(r.end - r.start) / timedelta(hours=1) for r in parsed.rows]
    assert hours == [1.5, 0.25, 1.0]
    if fmt != "harvest":
        assert parsed.rows[0].start == datetime(2024, 1, 15, 14, 0, tzinfo=UTC)  # 09:00 EST
    assert len({r.external_key for r in parsed.rows}) == 3


def test_keys_are_stable_and_identical_rows_get_one_each() -> None:
    header = "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,"
    header += "End date,End time,Duration,Tags,Amount (EUR)"
    row = "A,a@x.io,,P,,same,Yes,2024-01-15,09:00:00,2024-01-15,10:00:00,01:00:00,,1"
    first = parse("toggl", "\n".join([header, row, row]))
    again = parse("toggl", "\n".join([header, row[:-1] + "2", row]))  # amount changed
    keys = [r.external_key for r in first.rows]
    assert len(set(keys)) == 2
    assert [r.external_key for r in again.rows] == keys


def test_a_semicolon_export_with_a_bom_reads_too() -> None:
    text = "\ufeffID;User;Project;Client;Task;Start Time;End Time;Notes\n"
    text += "7;alice;P;;;2024-01-15T09:00:00+01:00;2024-01-15T10:00:00+01:00;x\n"
    parsed = parse("timetracker", text)
    assert parsed.rows[0].external_key == "id:7"
    assert parsed.rows[0].start == datetime(2024, 1, 15, 8, 0, tzinfo=UTC)  # offset kept


def test_a_file_of_another_format_is_refused_whole() -> None:
    with pytest.raises(ImportFormatError, match="lacks Date, Hours"):
        parse("harvest", (SAMPLES / "toggl.csv").read_text(encoding="utf-8"))
    with pytest.raises(ImportFormatError):
        parse("excel", "a,b\n")


def _clockify(*days: str) -> str:
    header = "Project,Client,Description,Task,User,Group,Email,Tags,Billable,Start Date,"
    header += "Start Time,End Date,End Time,Duration (h),Duration (decimal)"
    rows = [f"P,,x,,A,,a@x.io,,Yes,{d},09:00:00,{d},10:00:00,01:00:00,1.00" for d in days]
    return "\n".join([header, *rows])


@pytest.mark.parametrize(
    ("days", "read"),
    [
        (("03/04/2024", "15/04/2024"), [date(2024, 4, 3), date(2024, 4, 15)]),  # day first
        (("03/04/2024", "04/15/2024"), [date(2024, 3, 4), date(2024, 4, 15)]),  # month first
        (("03/04/2024", "04/05/2024"), [date(2024, 3, 4), date(2024, 4, 5)]),  # either: US
    ],
)
def test_slash_dates_are_read_in_one_order_for_the_whole_file(
    days: tuple[str, ...], read: list[date]
) -> None:
    """Read one cell at a time, 03/04/2024 was March beside 15/04/2024 in April."""
    parsed = parse("clockify", _clockify(*days))
    assert [row.start.date() for row in parsed.rows] == read
    assert parsed.problems == []


def test_a_slash_date_the_files_order_cannot_read_is_named_by_line() -> None:
    parsed = parse("clockify", _clockify("15/04/2024", "04/15/2024"))  # day first, then not
    assert [row.line for row in parsed.rows] == [2]
    assert [(p.line, p.message) for p in parsed.problems] == [
        (3, "Start date '04/15/2024' is not a date.")
    ]


@pytest.mark.parametrize(
    "text",
    ["2024-03-05", " 2024-03-05 ", "2024-12-31", "3/5/2024", "05.03.2024", "2024-3-5",
     "2024-02-30", "20240305", "2024-W10-2", "", "tomorrow"],
)  # fmt: skip
def test_dates_read_the_same_with_or_without_the_iso_shortcut(text: str) -> None:
    assert _outcome(_date, text) == _outcome(_date_by_formats, text)


@pytest.mark.parametrize(
    "text",
    ["09:05", "09:05:07", "23:59:59", "9:05", "9:05 pm", "09:05PM", "25:00", "10:00:00+01:00",
     "0905", "10", ""],
)  # fmt: skip
def test_times_read_the_same_with_or_without_the_iso_shortcut(text: str) -> None:
    assert _outcome(_time, text) == _outcome(_time_by_formats, text)


def _outcome(read: Any, text: str) -> object:
    try:
        return read(text, "When")
    except RowError as exc:
        return str(exc)


def _date_by_formats(text: str, what: str) -> date:
    for fmt in (*_DATE_FORMATS, MONTH_FIRST):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise RowError(f"{what} {text!r} is not a date.")


def _time_by_formats(text: str, what: str) -> time:
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text.strip().upper(), fmt).time()
        except ValueError:
            continue
    raise RowError(f"{what} {text!r} is not a time of day.")


def test_a_row_holding_a_nul_character_is_named_by_line_not_imported() -> None:
    """PostgreSQL's text cannot store NUL: imported, it stopped the read models."""
    text = _clockify("01/15/2024", "01/16/2024").replace(",x,", ",Home\x00page,", 1)
    parsed = parse("clockify", text)
    assert [row.line for row in parsed.rows] == [3]
    assert [(p.line, "NUL" in p.message) for p in parsed.problems] == [(2, True)]
