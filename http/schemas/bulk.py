"""Bodies of `POST /time-entries/bulk`: up to 1,000 creates in one request."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields

from timetracker.http.errors import ApiError
from timetracker.http.schemas.time_entries import CreateEntryRequest, EntrySchema

MAX_BULK_ITEMS = 1000


class BulkItems(fields.List):
    """The list of creates: 1 to MAX_BULK_ITEMS items, counted before any is validated."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, list):
            if len(value) > MAX_BULK_ITEMS:
                raise ApiError(
                    413,
                    "Payload too large",
                    f"At most {MAX_BULK_ITEMS} time entries per request; got {len(value)}.",
                    "too_many_items",
                )
            if not value:
                raise ValidationError("At least one time entry is required.")
        return super()._deserialize(value, attr, data, **kwargs)


class BulkCreateEntriesRequest(Schema):
    time_entries = BulkItems(
        fields.Nested(CreateEntryRequest),
        required=True,
        metadata={
            "description": f"1 to {MAX_BULK_ITEMS} finished entries (each with `end_time`), "
            "each validated as a single create."
        },
    )


class BulkCreateEntriesResponse(Schema):
    message = fields.String(required=True)
    time_entries = fields.List(fields.Nested(EntrySchema), required=True)
