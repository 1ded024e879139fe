"""Report and export queries and bodies: grouping, filters, time zones, money, formats."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate

from timetracker.http.schemas.common import (
    DateOrDateTime,
    QueryBoolean,
    Text,
    UtcDateTime,
)
from timetracker.projections.report_groups_view import GROUP_KEYS

MAX_ID = 2_147_483_647
MAX_LISTED = 100
EXPORT_FORMATS = ("csv", "xlsx")


# Names the zone database answers that are not IANA zones: the host's own zone, the
# compiler's default rules and the "unknown" placeholder; and its posix/ and right/ copies.
_NOT_IANA_NAMES = frozenset({"localtime", "posixrules", "Factory"})
_NOT_IANA_PREFIXES = ("posix/", "right/")


def iana_zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (`Europe/Berlin`, `UTC`); ValueError, with a message for
    people, for anything else, such as `localtime` (whatever zone the server's host is in)."""
    if not name or len(name) > 64 or "\x00" in name:
        raise ValueError("Not a known IANA time zone.")  # not echoed: it may be anything
    unknown = ValueError(f"Unknown time zone {name!r}; use an IANA name.")
    if name in _NOT_IANA_NAMES or name.startswith(_NOT_IANA_PREFIXES):
        raise unknown
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: a path such as ../etc/passwd
        raise unknown from None


class TimeZoneName(fields.String):
    """An IANA time zone name (`Europe/Berlin`, `UTC`), checked against the zone database."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("example", "Europe/Berlin")
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        name = super()._deserialize(value, attr, data, **kwargs)
        try:
            iana_zone(name)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return name


class CommaList(fields.String):
    """Comma-separated values in a query string (`1,2`); a single value is a list of one."""

    def __init__(self, item: fields.Field, strip: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.item = item
        self.strip = strip  # ids take no spaces, as a single id filter never did

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        parts = [p.strip() if self.strip else p for p in text.split(",")]
        if not text or any(not p for p in parts):
            raise ValidationError("Must be one value or several separated by commas.")
        if len(parts) > MAX_LISTED:
            raise ValidationError(f"At most {MAX_LISTED} values.")
        return tuple(dict.fromkeys(self.item.deserialize(p) for p in parts))


class _Id(fields.Integer):
    def __init__(self) -> None:
        super().__init__(validate=validate.Range(min=1, max=MAX_ID))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not value.isascii() or not value.isdigit():
            raise ValidationError("Must be positive integers.")
        return super()._deserialize(value, attr, data, **kwargs)


def _ids(what: str) -> CommaList:
    return CommaList(
        _Id(),
        strip=False,
        metadata={
            "description": f"Only these {what} (one id, or several separated by commas).",
            "pattern": r"^[0-9]+(,[0-9]+)*$",
            "example": "1,2",
        },
    )


class _GroupKey(fields.String):
    def __init__(self) -> None:
        super().__init__(validate=validate.OneOf(GROUP_KEYS))


class GroupBy(CommaList):
    """One or two grouping keys, outer first."""

    def __init__(self) -> None:
        keys = "|".join(GROUP_KEYS)
        super().__init__(
            _GroupKey(),
            metadata={
                "description": "One or two of: "
                + ", ".join(f"`{k}`" for k in GROUP_KEYS)
                + " (comma-separated, outer first). The summary then has `groups`, each with"
                " its key fields, sums and, with two keys, its inner `groups`.",
                "pattern": f"^({keys})(,({keys}))?$",
                "example": "user,day",
            },
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        keys = super()._deserialize(value, attr, data, **kwargs)
        if len(keys) > 2 or len(value.split(",")) != len(keys):
            raise ValidationError("One or two different keys.")
        return keys


class ReportFilterQuery(Schema):
    """The filters reports and exports share."""

    start_date = DateOrDateTime(
        metadata={
            "description": "From this day (00:00 in `tz`) or moment on.",
            "example": "2024-01-01",
        }
    )
    end_date = DateOrDateTime(
        metadata={
            "description": "Up to the end of this day (in `tz`) or this moment.",
            "example": "2024-01-31",
        }
    )
    tz = TimeZoneName(
        metadata={
            "description": "An IANA time zone: which day, week and month an entry falls in "
            "(by its start) and what the dates mean. Default: the user's `timezone` "
            "(`PATCH /users/me`), UTC unless set. Unknown zones are a 400.",
            "example": "Europe/Berlin",
        }
    )
    project_id = _ids("projects")
    client_id = _ids("clients (of the entries' projects)")
    task_id = _ids("tasks")
    user_id = _ids("users (admins; a normal user sees only their own time)")
    tag = CommaList(
        Text(max_length=1000, validate=validate.Length(min=1)),
        metadata={
            "description": "Entries with any of these tags (comma-separated).",
            "example": "meeting",
        },
    )
    billable = QueryBoolean(
        metadata={"description": "Only billable (`true`) or non-billable (`false`) entries."}
    )


class ReportQuery(ReportFilterQuery):
    group_by = GroupBy()
    as_of = UtcDateTime(
        metadata={
            "description": "The report as it stood at this moment (not in the future); the "
            "window's default end is that day. The answer names its store position."
        }
    )


class ReportExportQuery(ReportQuery):
    format = fields.String(
        load_default="csv",
        validate=validate.OneOf(EXPORT_FORMATS),
        metadata={"description": "`csv` (RFC 4180, UTF-8) or `xlsx`."},
    )


class EntryExportQuery(ReportFilterQuery):
    format = fields.String(
        load_default="csv",
        validate=validate.OneOf(EXPORT_FORMATS),
        metadata={"description": "`csv` (RFC 4180, UTF-8) or `xlsx`."},
    )
    include_active = QueryBoolean(
        load_default=False, metadata={"description": "Include running timers (no end yet)."}
    )


class ProjectSummarySchema(Schema):
    project_id = fields.Integer(required=True)
    project_name = fields.String(allow_none=True, required=True)
    hours = fields.Float(required=True)
    billable_hours = fields.Float(required=True)
    entries = fields.Integer(required=True)
    billable_amount = fields.Float(required=True)


class GroupSchema(Schema):
    """A group: the fields of its key (one pair or one value), its sums, inner groups."""

    project_id = fields.Integer(allow_none=True)
    project_name = fields.String(allow_none=True)
    client_id = fields.Integer(allow_none=True)
    client_name = fields.String(allow_none=True)
    task_id = fields.Integer(allow_none=True)
    task_name = fields.String(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    username = fields.String(allow_none=True)
    tag = fields.String(allow_none=True)
    day = fields.String(metadata={"example": "2024-01-15"})
    week = fields.String(metadata={"example": "2024-W03"})
    month = fields.String(metadata={"example": "2024-01"})
    hours = fields.Float(required=True)
    billable_hours = fields.Float(required=True)
    entries = fields.Integer(required=True)
    billable_amount = fields.Float(required=True)
    groups = fields.List(fields.Nested(lambda: GroupSchema()))


class SummarySchema(Schema):
    start_date = fields.DateTime(required=True)
    end_date = fields.DateTime(required=True)
    tz = fields.String(required=True)
    total_hours = fields.Float(required=True)
    billable_hours = fields.Float(required=True)
    total_entries = fields.Integer(required=True)
    billable_amount = fields.Float(required=True)
    currency = fields.String(required=True, metadata={"example": "EUR"})
    by_project = fields.List(fields.Nested(ProjectSummarySchema), required=True)
    group_by = fields.List(fields.String())
    groups = fields.List(fields.Nested(GroupSchema))
    as_of = fields.DateTime(metadata={"description": "With `as_of`: the moment asked for."})
    position = fields.Integer(metadata={"description": "With `as_of`: its store position."})


class SummaryResponse(Schema):
    summary = fields.Nested(SummarySchema, required=True)
