"""Schemas shared by every resource: errors, pagination, path ids, strict fields."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

MAX_ID = 2_147_483_647
MAX_PAGE = 1_000_000
MAX_PER_PAGE = 100


class Text(fields.String):
    """A string without NUL characters, at most `max_length` long."""

    def __init__(self, *, max_length: int = 10_000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        if len(text) > self.max_length:
            raise ValidationError(f"Longer than maximum length {self.max_length}.")
        return text


class EmailAddress(Text):
    """An email address (`name@example.com`), at most 254 characters."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("format", "email")
        super().__init__(max_length=254, **kwargs)
        self._email = validate.Email(error="Not a valid email address.")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        return self._email(text)


class StrictDecimal(fields.Decimal):
    """A JSON number (not a string, not a boolean) read as a Decimal, finite and >= 0."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(min=0, max=1_000_000_000))
        super().__init__(allow_nan=False, as_string=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Must be a number.")
        if isinstance(value, float):
            value = Decimal(repr(value))
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """A JSON `true` or `false`, nothing else."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class QueryBoolean(fields.Boolean):
    """`true`/`false` (also `1`/`0`) in a query string."""

    truthy = {"true", "1", "True", "TRUE"}
    falsy = {"false", "0", "False", "FALSE"}


_DECIMAL_INTEGER = re.compile(r"-?[0-9]+")


class QueryInteger(fields.Integer):
    """An integer in a path or query string: ASCII digits, optionally after a minus sign.

    `int()` alone also reads `1_0`, ` 1`, `+1` and digits of other scripts, which
    would give one resource several URLs and let non-integers through.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and not _DECIMAL_INTEGER.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def ref_id(**kwargs: Any) -> fields.Integer:
    """A JSON integer naming another resource."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def path_id(name: str) -> type[Schema]:
    """A schema for one integer id in the path, such as `{project_id}`."""
    return Schema.from_dict(
        {name: QueryInteger(required=True, validate=validate.Range(min=1, max=MAX_ID))},
        name=f"{name.title().replace('_', '')}Path",
    )


class PageQuery(Schema):
    """`page` (from 1) and `per_page` (1-100; larger values are clamped to 100)."""

    page = QueryInteger(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = QueryInteger(load_default=50, validate=validate.Range(min=1))


class PaginationSchema(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()
    has_next = fields.Boolean()
    has_prev = fields.Boolean()
    next_page = fields.Integer(allow_none=True)
    prev_page = fields.Integer(allow_none=True)


class ErrorResponse(Schema):
    """The body of every error."""

    error = fields.String(required=True)
    message = fields.String(required=True)
    error_code = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    required_scope = fields.String()
    available_scopes = fields.List(fields.String())
    history_url = fields.String(metadata={"description": "With `deleted`: where its history is."})


class MessageResponse(Schema):
    message = fields.String(required=True)


# The offset is checked here: `fromisoformat` reads `+05:60` as +06:00 and `+05:99` as +06:39.
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MIN_YEAR, MAX_YEAR = 1900, 2200


def parse_utc(text: str) -> datetime:
    """`YYYY-MM-DDTHH:MM:SS[.ffffff]` with `Z`, an offset, or nothing (UTC), as UTC."""
    if not _DATETIME.match(text):
        raise ValidationError("Must look like 2024-01-15T09:00:00Z.")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("Not a real date and time.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ValidationError(f"The year must be between {MIN_YEAR} and {MAX_YEAR}.")
    return moment.astimezone(UTC)


class UtcDateTime(fields.String):
    """An RFC 3339 date-time in a JSON string, read as an aware UTC datetime."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("format", "date-time")
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("Must be a date-time string.")
        return parse_utc(value)


@dataclass(frozen=True)
class TimeBound:
    """A filter bound: a moment, or a whole day when only a date was given."""

    moment: datetime
    date_only: bool

    def from_start(self) -> datetime:
        """As a lower bound: the moment, or 00:00:00Z of the day."""
        return self.moment

    def until_end(self) -> datetime:
        """As an exclusive upper bound: just after the moment, or the next day's 00:00Z."""
        step = timedelta(days=1) if self.date_only else timedelta(microseconds=1)
        return self.moment + step


class DateOrDateTime(fields.String):
    """`2024-01-15` (a whole day) or a date-time, in a query string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("Must be a date or a date-time.")
        if _DATE.match(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise ValidationError("Not a real date.") from None
            if not MIN_YEAR <= day.year <= MAX_YEAR:
                raise ValidationError(f"The year must be between {MIN_YEAR} and {MAX_YEAR}.")
            return TimeBound(datetime(day.year, day.month, day.day, tzinfo=UTC), True)
        return TimeBound(parse_utc(value), False)


def parse_last_moment(text: str) -> datetime:
    """An inclusive upper bound (a restore's point in time): a date-time as given, a date
    (`2024-06-30`) its last microsecond, as `end_date` reads it."""
    bound: TimeBound = DateOrDateTime().deserialize(text)
    return bound.until_end() - timedelta(microseconds=1) if bound.date_only else bound.moment


class LastMoment(fields.String):
    """`2024-06-30` (through its end) or a date-time, in a JSON string: `parse_last_moment`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("Must be a date or a date-time.")
        return parse_last_moment(value)
