"""Schemas shared by every resource: errors, pagination, path ids, strict fields."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

MAX_ID = 2_147_483_647
MAX_PAGE = 1_000_000
MAX_PER_PAGE = 100


class Text(fields.String):
    """A string without NUL characters, at most `max_length` long."""

    def __init__(self, *, max_length: int = 10_000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        if len(text) > self.max_length:
            raise ValidationError(f"Longer than maximum length {self.max_length}.")
        return text


class StrictDecimal(fields.Decimal):
    """A JSON number (not a string, not a boolean) read as a Decimal, finite and >= 0."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(min=0, max=1_000_000_000))
        super().__init__(allow_nan=False, as_string=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Must be a number.")
        if isinstance(value, float):
            value = Decimal(repr(value))
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """A JSON `true` or `false`, nothing else."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class QueryBoolean(fields.Boolean):
    """`true`/`false` (also `1`/`0`) in a query string."""

    truthy = {"true", "1", "True", "TRUE"}
    falsy = {"false", "0", "False", "FALSE"}


def ref_id(**kwargs: Any) -> fields.Integer:
    """A JSON integer naming another resource."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def path_id(name: str) -> type[Schema]:
    """A schema for one integer id in the path, such as `{project_id}`."""
    return Schema.from_dict(
        {name: fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID))},
        name=f"{name.title().replace('_', '')}Path",
    )


class PageQuery(Schema):
    """`page` (from 1) and `per_page` (1-100; larger values are clamped to 100)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1))


class PaginationSchema(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()
    has_next = fields.Boolean()
    has_prev = fields.Boolean()
    next_page = fields.Integer(allow_none=True)
    prev_page = fields.Integer(allow_none=True)


class ErrorResponse(Schema):
    """The body of every error."""

    error = fields.String(required=True)
    message = fields.String(required=True)
    error_code = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    required_scope = fields.String()
    available_scopes = fields.List(fields.String())


class MessageResponse(Schema):
    message = fields.String(required=True)
