"""The API's error type and its JSON body: `{"error", "message", "error_code"[, "errors"]}`."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered with the documented JSON body."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        error_code: str,
        *,
        errors: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.error_code = error_code
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The response body."""
        body: dict[str, Any] = {
            "error": self.error,
            "message": self.message,
            "error_code": self.error_code,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def validation_error(errors: dict[str, list[str]], message: str | None = None) -> ApiError:
    """400: the request's values are not acceptable."""
    return ApiError(
        400,
        "Validation error",
        message or "The request has invalid values; see `errors`.",
        "validation_error",
        errors=errors,
    )


def not_found(message: str) -> ApiError:
    """404: no such resource."""
    return ApiError(404, "Not found", message, "not_found")


def deleted(message: str, history_url: str) -> ApiError:
    """404: the resource was deleted; its history (at `history_url`) remains."""
    return ApiError(404, "Deleted", message, "deleted", extra={"history_url": history_url})
