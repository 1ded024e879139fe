"""History, change feed, time travel and undo: query, request and response bodies."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from timetracker.eventlog.reader import EVENT_TYPES, RESOURCES
from timetracker.http.schemas.common import QueryInteger, UtcDateTime

MAX_FEED_LIMIT = 1000
MAX_POSITION = 2**63 - 1


class NameList(fields.String):
    """Comma-separated names, each one of `choices`; loaded as a list."""

    def __init__(self, choices: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        names = [name.strip() for name in text.split(",") if name.strip()]
        if not names:
            raise ValidationError("Name at least one.")
        unknown = [name for name in names if name not in self.choices]
        if unknown:
            raise ValidationError(
                f"Unknown: {', '.join(unknown)}. Known: {', '.join(self.choices)}."
            )
        return names


class AsOfQuery(Schema):
    as_of = UtcDateTime(
        metadata={
            "description": "Answer as the resource was at this moment (RFC 3339, not in the "
            "future); `X-Event-Position` names the store position the answer reflects."
        }
    )


class AsOfSchema(Schema):
    time = fields.DateTime(required=True)
    position = fields.Integer(required=True)


class ActorSchema(Schema):
    user_id = fields.Integer(allow_none=True, required=True)
    username = fields.String(allow_none=True, required=True)
    token_prefix = fields.String(allow_none=True, required=True)


class ChangeSchema(Schema):
    # `from` is a Python keyword: the field is declared under another name.
    before = fields.Raw(data_key="from", allow_none=True, required=True)
    to = fields.Raw(allow_none=True, required=True)


class VersionSchema(Schema):
    version = fields.Integer(required=True)
    event = fields.String(required=True, metadata={"example": "EntryEdited"})
    at = fields.DateTime(required=True)
    position = fields.Integer(required=True)
    actor = fields.Nested(ActorSchema, required=True)
    request_id = fields.String(required=True)
    changes = fields.Dict(keys=fields.String(), values=fields.Nested(ChangeSchema), required=True)


class HistoryResponse(Schema):
    resource = fields.String(required=True)
    resource_id = fields.Integer(required=True)
    deleted = fields.Boolean(required=True)
    history = fields.List(fields.Nested(VersionSchema), required=True)


class FeedQuery(Schema):
    after = QueryInteger(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_POSITION),
        metadata={"description": "The cursor: the `next_cursor` of the previous page (0 first)."},
    )
    limit = QueryInteger(load_default=100, validate=validate.Range(min=1, max=MAX_FEED_LIMIT))
    type = NameList(
        tuple(EVENT_TYPES),
        metadata={"description": "Only these event types, comma-separated (EntryEdited,...)."},
    )
    resource = NameList(
        RESOURCES, metadata={"description": "Only events about these resources, comma-separated."}
    )


class FeedEventSchema(Schema):
    position = fields.Integer(required=True)
    event = fields.String(required=True)
    resource = fields.String(required=True, validate=validate.OneOf(RESOURCES))
    resource_id = fields.Integer(required=True)
    version = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    actor = fields.Nested(ActorSchema, required=True)
    request_id = fields.String(required=True)
    data = fields.Dict(required=True, metadata={"description": "What the event recorded."})


class FeedResponse(Schema):
    events = fields.List(fields.Nested(FeedEventSchema), required=True)
    next_cursor = fields.Integer(required=True)
    has_more = fields.Boolean(required=True)


class RevertEntryRequest(Schema):
    version = fields.Integer(
        strict=True,
        required=True,
        validate=validate.Range(min=1, max=2_147_483_647),
        metadata={"description": "The version whose fields the entry gets back."},
    )
