"""Task request and response bodies."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from timetracker.domain.task import TASK_PRIORITIES, TASK_STATUSES
from timetracker.http.schemas.audit import AsOfSchema
from timetracker.http.schemas.common import (
    PageQuery,
    PaginationSchema,
    QueryInteger,
    Text,
    ref_id,
)


class Priority(fields.Raw):
    """`low`, `medium`, `high`, `urgent`, or the integers 1-4 for the same four."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4:
            return TASK_PRIORITIES[value - 1]
        if isinstance(value, str) and value in TASK_PRIORITIES:
            return value
        raise ValidationError(f"Must be one of {', '.join(TASK_PRIORITIES)} or 1-4.")


class CreateTaskRequest(Schema):
    project_id = ref_id(required=True)
    name = Text(required=True, max_length=200, validate=validate.Length(min=1))
    description = Text(allow_none=True)
    status = fields.String(validate=validate.OneOf(TASK_STATUSES))
    priority = Priority()


class UpdateTaskRequest(Schema):
    """Every field is optional; only the fields sent change (PUT and PATCH alike)."""

    name = Text(max_length=200, validate=validate.Length(min=1))
    description = Text(allow_none=True)
    status = fields.String(validate=validate.OneOf(TASK_STATUSES))
    priority = Priority()


class TaskListQuery(PageQuery):
    project_id = QueryInteger(validate=validate.Range(min=1, max=2_147_483_647))
    status = fields.String(validate=validate.OneOf(TASK_STATUSES))


class TaskSchema(Schema):
    id = fields.Integer(required=True)
    project_id = fields.Integer(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(TASK_STATUSES))
    priority = fields.String(required=True, validate=validate.OneOf(TASK_PRIORITIES))
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    version = fields.Integer(required=True)


class TaskResponse(Schema):
    task = fields.Nested(TaskSchema, required=True)
    as_of = fields.Nested(
        AsOfSchema, metadata={"description": "With `as_of`: the moment asked for and its position."}
    )


class TaskWriteResponse(Schema):
    message = fields.String(required=True)
    task = fields.Nested(TaskSchema, required=True)


class TaskListResponse(Schema):
    tasks = fields.List(fields.Nested(TaskSchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)
