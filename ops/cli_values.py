"""Argument types of the `timetracker` command: each refuses a bad value with a sentence."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from marshmallow import ValidationError

from timetracker.http.schemas.common import DateOrDateTime, EmailAddress, TimeBound

MAX_PORT = 65535


def _whole_number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a whole number, not {text!r}") from None


def port(text: str) -> int:
    """`--port`: 0 (any free port) to 65535."""
    value = _whole_number(text, "the port")
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"the port must be between 0 and {MAX_PORT}, not {value}")
    return value


def worker_count(text: str) -> int:
    """`--workers`: a whole number, at least 1."""
    value = _whole_number(text, "the number of workers")
    if value < 1:
        raise argparse.ArgumentTypeError(f"there must be at least 1 worker, not {value}")
    return value


def positive_days(text: str) -> int:
    """`--expires-in-days`: at least 1 (0 used to make a token that never expires)."""
    value = _whole_number(text, "the number of days")
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"a token must expire at least 1 day from now, not in {value}"
            " (leave the option out for a token that never expires)"
        )
    return value


def _bound(text: str) -> TimeBound:
    try:
        bound: TimeBound = DateOrDateTime().deserialize(text)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
        raise argparse.ArgumentTypeError(
            f"{' '.join(map(str, messages))} (e.g. 2024-01-15 or 2024-01-15T09:00:00Z)"
        ) from None
    return bound


def start_moment(text: str) -> datetime:
    """A lower bound, as the API's `start_date` reads it: a date is 00:00:00Z of that day."""
    return _bound(text).from_start()


def end_moment(text: str) -> datetime:
    """An exclusive upper bound: a date-time as given; a date includes the whole day
    (the next day's 00:00:00Z), as the API's `end_date` reads it."""
    bound = _bound(text)
    return bound.until_end() if bound.date_only else bound.moment


def last_moment(text: str) -> datetime:
    """An inclusive upper bound: a date-time as given; a date is its last microsecond."""
    bound = _bound(text)
    return bound.until_end() - timedelta(microseconds=1) if bound.date_only else bound.moment


def email(text: str) -> str:
    """`--email`: a valid address, as the API requires."""
    try:
        address: str = EmailAddress().deserialize(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {' '.join(map(str, exc.messages))}") from None
    return address
