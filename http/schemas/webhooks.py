"""Webhook request and response bodies."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from yarl import URL

from timetracker.domain.webhook import (
    MAX_DESCRIPTION_LENGTH,
    MAX_URL_LENGTH,
    WEBHOOK_EVENT_TYPES,
)
from timetracker.http.schemas.common import (
    MAX_ID,
    PageQuery,
    PaginationSchema,
    QueryInteger,
    StrictBoolean,
    Text,
    UtcDateTime,
)

EVENTS_DESCRIPTION = "Event types to receive: " + ", ".join(WEBHOOK_EVENT_TYPES) + ", or `*`."


def absolute_url(value: str) -> None:
    """Refuse what is not an absolute URL (`validation_error`); where an absolute URL may
    point is the address guard's to say (`webhook_url_forbidden`)."""
    try:
        url = URL(value)
        valid = bool(url.scheme) and bool(url.host) and url.port is not None
    except ValueError:  # a port out of range, a broken IPv6 literal
        valid = False
    if not valid:
        raise ValidationError("Not a valid URL; give an absolute https:// URL.")


class CreateWebhookRequest(Schema):
    url = Text(
        required=True,
        max_length=MAX_URL_LENGTH,
        validate=[validate.Length(min=1), absolute_url],
        metadata={"description": "https:// (http:// only with WEBHOOKS_ALLOW_HTTP)."},
    )
    events = fields.List(
        Text(max_length=100),
        required=True,
        validate=validate.Length(min=1, max=len(WEBHOOK_EVENT_TYPES) + 1),
        metadata={"description": EVENTS_DESCRIPTION},
    )
    description = Text(allow_none=True, max_length=MAX_DESCRIPTION_LENGTH)


class UpdateWebhookRequest(CreateWebhookRequest):
    """Every field is optional; only the fields sent change (PUT and PATCH alike)."""

    url = Text(max_length=MAX_URL_LENGTH, validate=[validate.Length(min=1), absolute_url])
    events = fields.List(
        Text(max_length=100),
        validate=validate.Length(min=1, max=len(WEBHOOK_EVENT_TYPES) + 1),
        metadata={"description": EVENTS_DESCRIPTION},
    )
    active = StrictBoolean(
        metadata={"description": "false pauses deliveries; true resumes a disabled webhook."}
    )


class ReplayRequest(Schema):
    from_position = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=2**62),
        metadata={"description": "Re-send the matching events from this log position on."},
    )
    from_time = UtcDateTime(
        metadata={"description": "Re-send the matching events recorded after this moment."}
    )

    @validates_schema
    def one_start(self, data: dict[str, object], **kwargs: object) -> None:
        if ("from_position" in data) == ("from_time" in data):
            raise ValidationError(
                "Give exactly one of from_position and from_time.", "from_position"
            )


class WebhookSchema(Schema):
    id = fields.Integer(required=True)
    owner_id = fields.Integer(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    description = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    disabled_reason = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    version = fields.Integer(required=True)


class WebhookResponse(Schema):
    webhook = fields.Nested(WebhookSchema, required=True)


class WebhookWriteResponse(Schema):
    message = fields.String(required=True)
    webhook = fields.Nested(WebhookSchema, required=True)


class WebhookSecretResponse(WebhookWriteResponse):
    secret = fields.String(
        required=True, metadata={"description": "`whsec_<base64>`: shown once, keep it safe."}
    )


class WebhookListResponse(Schema):
    webhooks = fields.List(fields.Nested(WebhookSchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)


class DeliverySchema(Schema):
    id = fields.Integer(required=True)
    event_type = fields.String(required=True)
    position = fields.Integer(allow_none=True)
    state = fields.String(
        required=True, validate=validate.OneOf(["pending", "delivered", "failed"])
    )
    attempts = fields.Integer(required=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_response = fields.String(allow_none=True, metadata={"description": "At most 1 KiB."})
    latency_ms = fields.Float(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    last_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    replay = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class DeliveryListResponse(Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)


class DeliveryQueuedResponse(Schema):
    message = fields.String(required=True)
    delivery = fields.Nested(DeliverySchema)


class ReplayResponse(Schema):
    message = fields.String(required=True)
    deliveries = fields.Integer(required=True)
    from_position = fields.Integer(required=True)
    to_position = fields.Integer(required=True)


class WebhookListQuery(PageQuery):
    pass


DeliveryPath = Schema.from_dict(
    {
        "webhook_id": QueryInteger(required=True, validate=validate.Range(min=1, max=MAX_ID)),
        "delivery_id": QueryInteger(required=True, validate=validate.Range(min=1, max=2**62)),
    },
    name="DeliveryPath",
)
