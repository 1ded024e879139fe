"""Errors of the application layer (the domain's own live in `timetracker.domain.errors`)."""

from __future__ import annotations

from timetracker.domain.errors import InvalidValueError, TimeTrackingError


class NotFoundError(TimeTrackingError):
    """No resource of that kind has that id (HTTP 404)."""

    def __init__(self, kind: str, number: int) -> None:
        super().__init__(f"{kind.replace('_', ' ').capitalize()} {number} not found.")
        self.kind = kind
        self.number = number


class UnknownReferenceError(InvalidValueError):
    """A field names a resource that does not exist (HTTP 400 on that field)."""


class VersionMismatchError(TimeTrackingError):
    """`If-Match` named a version that is no longer current (HTTP 412)."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"The resource is at version {actual}, not {expected}.")
        self.expected = expected
        self.actual = actual


class WriteContentionError(TimeTrackingError):
    """Other writers kept changing the same records; the command gave up (HTTP 409)."""


class ItemsInvalidError(TimeTrackingError):
    """Items of a batch break rules; `errors` names each by index (HTTP 400, nothing written)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the items; nothing was written.")
        self.errors = errors
