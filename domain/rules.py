"""Value rules shared by several aggregates."""

from __future__ import annotations

from decimal import Decimal

from timetracker.domain.errors import InvalidValueError

MAX_NAME_LENGTH = 200
MAX_TEXT_LENGTH = 10_000
MAX_AMOUNT = Decimal(1000000000)


def require_name(field: str, value: str) -> str:
    """A required name: 1 to 200 characters after trimming."""
    name = value.strip()
    if not name:
        raise InvalidValueError(field, "Must not be empty.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidValueError(field, f"Longer than {MAX_NAME_LENGTH} characters.")
    return name


def require_amount(field: str, value: Decimal | None) -> Decimal | None:
    """An optional non-negative amount (rates, hours)."""
    if value is None:
        return None
    if not value.is_finite() or value < 0:
        raise InvalidValueError(field, "Must be a number of at least 0.")
    if value > MAX_AMOUNT:
        raise InvalidValueError(field, f"Must be at most {MAX_AMOUNT}.")
    return value


def require_choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of strings."""
    if value not in choices:
        raise InvalidValueError(field, f"Must be one of: {', '.join(choices)}.")
    return value
