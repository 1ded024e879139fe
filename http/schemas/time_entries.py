"""Time entry, timer and report request and response bodies."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from timetracker.http.schemas.audit import AsOfSchema
from timetracker.http.schemas.common import (
    DateOrDateTime,
    PageQuery,
    PaginationSchema,
    QueryBoolean,
    QueryInteger,
    StrictBoolean,
    Text,
    UtcDateTime,
    ref_id,
)

MAX_ID = 2_147_483_647


class Tags(fields.Raw):
    """Comma-separated tags in a string, or a JSON list of strings."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            parts = value
        elif isinstance(value, str):
            parts = [value]
        else:
            raise ValidationError("Must be a string or a list of strings.")
        if any("\x00" in p for p in parts) or sum(len(p) for p in parts) > 1000:
            raise ValidationError("Tags must be at most 1000 characters, without NUL.")
        return value


class CreateEntryRequest(Schema):
    project_id = ref_id(required=True)
    task_id = ref_id(allow_none=True)
    start_time = UtcDateTime(required=True)
    end_time = UtcDateTime(allow_none=True)
    notes = Text(allow_none=True)
    tags = Tags(allow_none=True)
    billable = StrictBoolean()
    user_id = ref_id(metadata={"description": "Admins only: record time for this user."})


class UpdateEntryRequest(Schema):
    """Every field is optional; only the fields sent change (PUT and PATCH alike)."""

    project_id = ref_id()
    task_id = ref_id(allow_none=True)
    start_time = UtcDateTime()
    end_time = UtcDateTime(allow_none=True)
    notes = Text(allow_none=True)
    tags = Tags(allow_none=True)
    billable = StrictBoolean()


class EntryListQuery(PageQuery):
    project_id = QueryInteger(validate=validate.Range(min=1, max=MAX_ID))
    user_id = QueryInteger(validate=validate.Range(min=1, max=MAX_ID))
    start_date = DateOrDateTime()
    end_date = DateOrDateTime()
    billable = QueryBoolean()
    include_active = QueryBoolean(load_default=False)


class StartTimerRequest(Schema):
    project_id = ref_id(required=True)
    task_id = ref_id(allow_none=True)
    notes = Text(allow_none=True)
    tags = Tags(allow_none=True)
    billable = StrictBoolean()


class EntrySchema(Schema):
    id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    project_id = fields.Integer(required=True)
    task_id = fields.Integer(allow_none=True)
    start_time = fields.DateTime(required=True)
    end_time = fields.DateTime(allow_none=True)
    duration_seconds = fields.Integer(allow_none=True)
    duration_hours = fields.Float(allow_none=True)
    notes = fields.String(allow_none=True)
    tags = fields.String(allow_none=True)
    tag_list = fields.List(fields.String(), required=True)
    billable = fields.Boolean(required=True)
    is_active = fields.Boolean(required=True)
    source = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    version = fields.Integer(required=True)


class EntryResponse(Schema):
    time_entry = fields.Nested(EntrySchema, required=True)
    as_of = fields.Nested(
        AsOfSchema, metadata={"description": "With `as_of`: the moment asked for and its position."}
    )


class EntryWriteResponse(Schema):
    message = fields.String(required=True)
    time_entry = fields.Nested(EntrySchema, required=True)


class EntryListResponse(Schema):
    time_entries = fields.List(fields.Nested(EntrySchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)


class TimerStatusResponse(Schema):
    active = fields.Boolean(required=True)
    timer = fields.Nested(EntrySchema, allow_none=True, required=True)


class TimerStartResponse(Schema):
    message = fields.String(required=True)
    timer = fields.Nested(EntrySchema, required=True)
