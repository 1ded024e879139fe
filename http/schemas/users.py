"""User response bodies."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from timetracker.domain.user import ROLES
from timetracker.http.schemas.common import PaginationSchema
from timetracker.http.schemas.reports import TimeZoneName


class UserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    email = fields.String(allow_none=True, metadata={"format": "email"})
    full_name = fields.String(allow_none=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    is_active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    timezone = fields.String(
        metadata={"description": "`/users/me` only: the IANA zone of reports and exports."}
    )


class UserResponse(Schema):
    user = fields.Nested(UserSchema, required=True)


class UpdateMeRequest(Schema):
    timezone = TimeZoneName(
        required=True,
        metadata={
            "description": "An IANA time zone (default UTC): the default `tz` of reports and "
            "exports. Unknown zones are a 400.",
            "example": "Europe/Berlin",
        },
    )


class UserWriteResponse(Schema):
    message = fields.String(required=True)
    user = fields.Nested(UserSchema, required=True)


class UserListResponse(Schema):
    users = fields.List(fields.Nested(UserSchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)
