"""Project request and response bodies."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from timetracker.domain.project import PROJECT_STATUSES
from timetracker.http.schemas.audit import AsOfSchema
from timetracker.http.schemas.common import (
    PageQuery,
    PaginationSchema,
    QueryInteger,
    StrictBoolean,
    StrictDecimal,
    Text,
    ref_id,
)


class CreateProjectRequest(Schema):
    name = Text(required=True, max_length=200, validate=validate.Length(min=1))
    description = Text(allow_none=True)
    client_id = ref_id(allow_none=True)
    hourly_rate = StrictDecimal(allow_none=True)
    estimated_hours = StrictDecimal(allow_none=True)
    billable = StrictBoolean()
    status = fields.String(validate=validate.OneOf(["active", "on_hold"]))


class UpdateProjectRequest(Schema):
    """Every field is optional; only the fields sent change (PUT and PATCH alike)."""

    name = Text(max_length=200, validate=validate.Length(min=1))
    description = Text(allow_none=True)
    client_id = ref_id(allow_none=True)
    hourly_rate = StrictDecimal(allow_none=True)
    estimated_hours = StrictDecimal(allow_none=True)
    billable = StrictBoolean()
    status = fields.String(validate=validate.OneOf(PROJECT_STATUSES))


class ProjectListQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(PROJECT_STATUSES))
    client_id = QueryInteger(validate=validate.Range(min=1, max=2_147_483_647))


class ProjectSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    client_id = fields.Integer(allow_none=True)
    client = fields.String(allow_none=True)
    hourly_rate = fields.Float(allow_none=True)
    estimated_hours = fields.Float(allow_none=True)
    billable = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(PROJECT_STATUSES))
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    archived_at = fields.DateTime(allow_none=True)
    version = fields.Integer(required=True)


class ProjectResponse(Schema):
    project = fields.Nested(ProjectSchema, required=True)
    as_of = fields.Nested(
        AsOfSchema, metadata={"description": "With `as_of`: the moment asked for and its position."}
    )


class ProjectWriteResponse(Schema):
    message = fields.String(required=True)
    project = fields.Nested(ProjectSchema, required=True)


class ProjectListResponse(Schema):
    projects = fields.List(fields.Nested(ProjectSchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)
