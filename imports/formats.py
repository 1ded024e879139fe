"""The CSV exports this service reads, one column map per tool, into plain `ImportRow`s.

Each tool writes local times without an offset (the exporting user's or the server's time
zone, which the file does not say): they are read in the time zone the operator names
(UTC by default). Column names are the tools' own:

- Toggl Track, Reports > Detailed > Export CSV: `User, Email, Client, Project, Task,
  Description, Billable, Start date, Start time, End date, End time, Duration, Tags`
  (dates `2024-01-15`, times `09:00:00`, duration `01:30:00`, billable `Yes`/`No`).
- Clockify, Reports > Detailed > Export CSV: `Project, Client, Description, Task, User, Group,
  Email, Tags, Billable, Start Date, Start Time, End Date, End Time, Duration (h),
  Duration (decimal)` (dates `01/15/2024` or `2024-01-15`, times `09:00:00`, `9:00 AM` or
  `09:00:00 AM`, as the user's settings say).
- Harvest, Reports > Detailed time > Export CSV: `Date, Client, Project, Project Code, Task,
  Notes, Hours, Hours Rounded, Billable?, Invoiced?, First Name, Last Name, ...`: a day and a
  decimal number of hours (`1.5`, or `1,5`, or `1:30`), no clock times: the entry starts at
  midnight of its day.
- Kimai, Timesheets > Export > CSV: `Date, From, To, Duration, Rate, Currency, User, Customer,
  Project, Activity, Description, Exported, Tags, ...` (`2024-01-15 09:00`, duration `1:30`);
  Kimai's activity becomes the task.
- TimeTracker (the Flask service this one replaces), Reports > Export CSV: `ID, User, Project,
  Client, Task, Start Time, End Time, Duration (hours), Duration (formatted), Notes, Tags,
  Source, Billable, Created At, Updated At` (ISO times, `,` or the configured delimiter).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

FORMATS = ("toggl", "clockify", "harvest", "kimai", "timetracker")


class ImportFormatError(ValueError):
    """The file is not an export of the named format (its header lacks a column)."""


class RowError(ValueError):
    """One row cannot be read; the message says why."""


@dataclass(frozen=True)
class ImportRow:
    """One entry read from a file, times in UTC; `line` is its line number in the file."""

    line: int
    external_key: str
    start: datetime
    end: datetime
    project: str
    client: str | None = None
    task: str | None = None
    notes: str | None = None
    tags: str | None = None
    billable: bool = True
    user_name: str | None = None
    user_email: str | None = None


@dataclass(frozen=True)
class RowProblem:
    """A row that will not be imported, and why."""

    line: int
    message: str


@dataclass
class ParsedFile:
    """Every readable row of a file and a problem for each other one."""

    rows: list[ImportRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


Record = dict[str, str]


def _cell(record: Record, *names: str) -> str:
    for name in names:
        value = record.get(name)
        if value is not None:
            return value.strip()
    return ""


def _yes_no(value: str, default: bool = True) -> bool:
    lowered = value.strip().lower()
    if lowered in ("yes", "true", "1", "y"):
        return True
    if lowered in ("no", "false", "0", "n"):
        return False
    if not lowered:
        return default
    raise RowError(f"Billable must be Yes or No, not {value!r}.")


_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")
MONTH_FIRST, DAY_FIRST = "%m/%d/%Y", "%d/%m/%Y"
# How the file being read writes dates with slashes, decided once for the whole file
# (`slash_order`): read one cell at a time, 03/04/2024 and 15/04/2024 in one file became
# March and April. Set by `parse` for the rows it reads (they reach `_date` through each
# tool's reader, which has no other way to hear of it).
_slash_dates: ContextVar[str] = ContextVar("slash_dates", default=MONTH_FIRST)
_SLASH_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/\d{4}(?![\d/])")


def slash_order(text: str) -> str:
    """How a file writes its slash dates: day first if any of them can only be read so
    (15/01/2024), else month first (the US order, Toggl's and Clockify's default)."""
    for match in _SLASH_DATE.finditer(text):
        if int(match.group(1)) > 12:
            return DAY_FIRST
        if int(match.group(2)) > 12:
            return MONTH_FIRST
    return MONTH_FIRST


_TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p", "%I:%M:%S%p", "%I:%M%p")


# The shapes most exports write, read without `strptime` (a tenth of an import's job).
_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_ISO_TIME = re.compile(r"\d\d:\d\d(?::\d\d)?")


def _date(text: str, what: str) -> date:
    cleaned = text.strip()
    if _ISO_DATE.fullmatch(cleaned):
        try:
            return date.fromisoformat(cleaned)
        except ValueError:
            pass  # 2024-02-30: the formats below say no too
    for fmt in (*_DATE_FORMATS, _slash_dates.get()):
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    raise RowError(f"{what} {text!r} is not a date.")


def _time(text: str, what: str) -> time:
    cleaned = text.strip().upper()
    if _ISO_TIME.fullmatch(cleaned):
        try:
            return time.fromisoformat(cleaned)
        except ValueError:
            pass  # 25:00: the formats below say no too
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).time()
        except ValueError:
            continue
    raise RowError(f"{what} {text!r} is not a time of day.")


def _local(day: date, moment: time, zone: tzinfo) -> datetime:
    return datetime.combine(day, moment).replace(tzinfo=zone).astimezone(UTC)


def _datetime(text: str, zone: tzinfo, what: str) -> datetime:
    """ISO (with or without an offset) or `YYYY-MM-DD HH:MM[:SS]`; no offset: `zone`."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RowError(f"{what} {text!r} is not a date and time.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


_CLOCK = re.compile(r"^(\d+):([0-5]?\d)(?::([0-5]?\d))?$")


def duration_seconds(text: str) -> int:
    """`1:30`, `01:30:00` or a decimal number of hours (`1.5`, `1,5`) as seconds."""
    cleaned = text.strip()
    match = _CLOCK.match(cleaned)
    if match:
        hours, minutes, seconds = (int(part or 0) for part in match.groups())
        return hours * 3600 + minutes * 60 + seconds
    try:
        hours_decimal = float(cleaned.replace(",", "."))
    except ValueError:
        raise RowError(f"Duration {text!r} is neither hours nor H:MM.") from None
    if hours_decimal != hours_decimal or hours_decimal < 0:  # NaN or negative
        raise RowError(f"Duration {text!r} is not a positive number of hours.")
    return round(hours_decimal * 3600)


def _toggl_like(date_col: str, time_col: str, end_date: str, end_time: str) -> Reader:
    def times(record: Record, zone: tzinfo) -> tuple[datetime, datetime]:
        start = _local(
            _date(record[date_col], "Start date"), _time(record[time_col], "Start"), zone
        )
        end_day = record.get(end_date, "").strip() or record[date_col]
        end = _local(_date(end_day, "End date"), _time(record[end_time], "End"), zone)
        return start, end

    return times


def _harvest_times(record: Record, zone: tzinfo) -> tuple[datetime, datetime]:
    start = _local(_date(record["Date"], "Date"), time(0, 0), zone)
    return start, start + timedelta(seconds=duration_seconds(record["Hours"]))


def _kimai_times(record: Record, zone: tzinfo) -> tuple[datetime, datetime]:
    day = _date(record["Date"], "Date")

    def moment(text: str, what: str) -> datetime:
        if len(text.strip()) <= 8:  # a time of day alone
            return _local(day, _time(text, what), zone)
        return _datetime(text, zone, what)

    start = moment(record["From"], "From")
    if record.get("To", "").strip():
        return start, moment(record["To"], "To")
    return start, start + timedelta(seconds=duration_seconds(record["Duration"]))


def _timetracker_times(record: Record, zone: tzinfo) -> tuple[datetime, datetime]:
    start = _datetime(record["Start Time"], zone, "Start Time")
    if not record.get("End Time", "").strip():
        raise RowError("The entry has no end time (a running timer).")
    return start, _datetime(record["End Time"], zone, "End Time")


Reader = Callable[[Record, tzinfo], tuple[datetime, datetime]]


@dataclass(frozen=True)
class Layout:
    """Where one tool's export keeps each value."""

    required: tuple[str, ...]
    times: Reader
    project: tuple[str, ...] = ("Project",)
    client: tuple[str, ...] = ("Client",)
    task: tuple[str, ...] = ("Task",)
    notes: tuple[str, ...] = ("Description",)
    billable: tuple[str, ...] = ("Billable",)
    user_name: Callable[[Record], str] = lambda r: _cell(r, "User")
    user_email: tuple[str, ...] = ("Email",)
    tag_separator: str = ","
    entry_id: str | None = None  # a column holding the tool's own id of the entry


LAYOUTS: dict[str, Layout] = {
    "toggl": Layout(
        required=("Project", "Description", "Start date", "Start time", "End time"),
        times=_toggl_like("Start date", "Start time", "End date", "End time"),
    ),
    "clockify": Layout(
        required=("Project", "Description", "Start Date", "Start Time", "End Time"),
        times=_toggl_like("Start Date", "Start Time", "End Date", "End Time"),
    ),
    "harvest": Layout(
        required=("Date", "Project", "Hours", "Notes"),
        times=_harvest_times,
        notes=("Notes",),
        billable=("Billable?",),
        user_name=lambda r: " ".join(
            p for p in (_cell(r, "First Name"), _cell(r, "Last Name")) if p
        ),
    ),
    "kimai": Layout(
        required=("Date", "From", "Project", "Duration"),
        times=_kimai_times,
        client=("Customer",),
        task=("Activity",),
        user_name=lambda r: _cell(r, "User", "Username", "Name"),
    ),
    "timetracker": Layout(
        required=("ID", "Project", "Start Time", "End Time"),
        times=_timetracker_times,
        notes=("Notes",),
        entry_id="ID",
    ),
}


def _records(text: str) -> tuple[list[str], Iterator[tuple[int, Record]]]:
    """The file's header, and its rows as dicts by header with the line each starts on."""
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if reader.fieldnames is None:
        raise ImportFormatError("The file is empty.")
    header = [name.strip() for name in reader.fieldnames]
    reader.fieldnames = header

    def rows() -> Iterator[tuple[int, Record]]:
        line = reader.line_num + 1
        for record in reader:
            yield line, {k: v for k, v in record.items() if isinstance(k, str) and v is not None}
            line = reader.line_num + 1

    return header, rows()


def _fingerprint(fmt: str, parts: tuple[str | None, ...]) -> str:
    canonical = "\x1f".join(part or "" for part in parts)
    return hashlib.sha256(f"{fmt}\x1e{canonical}".encode()).hexdigest()[:32]


def parse(fmt: str, text: str, zone: tzinfo = UTC) -> ParsedFile:
    """Read an export of `fmt`: every row as an ImportRow, or a problem with its line."""
    if fmt not in LAYOUTS:
        raise ImportFormatError(f"Unknown format {fmt!r}; one of {', '.join(FORMATS)}.")
    layout = LAYOUTS[fmt]
    header, records = _records(text.removeprefix("\ufeff"))
    missing = [column for column in layout.required if column not in header]
    if missing:
        raise ImportFormatError(f"Not a {fmt} export: the header lacks {', '.join(missing)}.")
    parsed = ParsedFile()
    seen: Counter[str] = Counter()
    slash_dates = _slash_dates.set(slash_order(text))
    try:
        for line, record in records:
            if not any(value.strip() for value in record.values()):
                continue
            try:
                parsed.rows.append(_row(fmt, layout, line, record, zone, seen))
            except (RowError, KeyError) as exc:
                message = str(exc) if isinstance(exc, RowError) else f"Column {exc} is missing."
                parsed.problems.append(RowProblem(line, message))
    finally:
        _slash_dates.reset(slash_dates)
    return parsed


def _row(
    fmt: str, layout: Layout, line: int, record: Record, zone: tzinfo, seen: Counter[str]
) -> ImportRow:
    if any("\x00" in value for value in record.values()):
        raise RowError("The row holds a NUL character (\\x00), which cannot be stored.")
    start, end = layout.times(record, zone)
    if end <= start:
        raise RowError("The entry ends before it starts (or has no duration).")
    project = _cell(record, *layout.project)
    if not project:
        raise RowError("The entry has no project.")
    user_name = layout.user_name(record) or None
    user_email = _cell(record, *layout.user_email) or None
    client = _cell(record, *layout.client) or None
    task = _cell(record, *layout.task) or None
    notes = _cell(record, *layout.notes) or None
    if layout.entry_id is not None and _cell(record, layout.entry_id):
        key = f"id:{_cell(record, layout.entry_id)}"
    else:
        # No id in the export: who, when, where and what name the entry (not the columns a
        # tool changes later, such as amounts, tags or an "exported" flag), and which repeat
        # of the same it is within the file.
        who = user_email or user_name
        identity = (who, start.isoformat(), end.isoformat(), project, client, task, notes)
        digest = _fingerprint(fmt, identity)
        seen[digest] += 1
        key = f"{digest}:{seen[digest]}"
    tags = [t.strip() for t in _cell(record, "Tags").split(layout.tag_separator)]
    return ImportRow(
        line=line,
        external_key=key,
        start=start,
        end=end,
        project=project,
        client=client,
        task=task,
        notes=notes,
        tags=",".join(t for t in tags if t) or None,
        billable=_yes_no(_cell(record, *layout.billable)),
        user_name=user_name,
        user_email=user_email,
    )
