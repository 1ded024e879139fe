"""User response bodies."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from timetracker.domain.user import ROLES
from timetracker.http.schemas.common import PaginationSchema


class UserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    email = fields.String(allow_none=True, metadata={"format": "email"})
    full_name = fields.String(allow_none=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    is_active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class UserResponse(Schema):
    user = fields.Nested(UserSchema, required=True)


class UserListResponse(Schema):
    users = fields.List(fields.Nested(UserSchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)
