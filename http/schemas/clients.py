"""Client request and response bodies."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from timetracker.domain.client import CLIENT_STATUSES
from timetracker.http.schemas.audit import AsOfSchema
from timetracker.http.schemas.common import (
    EmailAddress,
    PageQuery,
    PaginationSchema,
    StrictDecimal,
    Text,
)


class CreateClientRequest(Schema):
    name = Text(required=True, max_length=200, validate=validate.Length(min=1))
    email = EmailAddress(allow_none=True)
    company = Text(allow_none=True, max_length=200)
    phone = Text(allow_none=True, max_length=50)
    contact_person = Text(allow_none=True, max_length=200)
    address = Text(allow_none=True, max_length=1000)
    default_hourly_rate = StrictDecimal(allow_none=True)


class UpdateClientRequest(CreateClientRequest):
    """Every field is optional; only the fields sent change (PUT and PATCH alike)."""

    name = Text(max_length=200, validate=validate.Length(min=1))
    status = fields.String(validate=validate.OneOf(CLIENT_STATUSES))


class ClientListQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(CLIENT_STATUSES))


class ClientSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(allow_none=True, metadata={"format": "email"})
    company = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    contact_person = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    default_hourly_rate = fields.Float(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(CLIENT_STATUSES))
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    version = fields.Integer(required=True)


class ClientResponse(Schema):
    client = fields.Nested(ClientSchema, required=True)
    as_of = fields.Nested(
        AsOfSchema, metadata={"description": "With `as_of`: the moment asked for and its position."}
    )


class ClientWriteResponse(Schema):
    message = fields.String(required=True)
    client = fields.Nested(ClientSchema, required=True)


class ClientListResponse(Schema):
    clients = fields.List(fields.Nested(ClientSchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)
