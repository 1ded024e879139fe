"""/webhooks: subscriptions to events of the log, their deliveries, tests and replays.

A normal user manages their own webhooks, an admin everyone's. The subscriptions are
event-sourced (`domain/webhook.py`; `/webhooks/{id}/history` shows who changed what); the
deliveries are the dispatcher's (`webhooks/`), shown and re-queued here.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp_apigami import (
    docs,
    json_schema,
    match_info_schema,
    querystring_schema,
    response_schema,
)

from timetracker.commands.messages import (
    CreateWebhook,
    DeleteWebhook,
    RotateWebhookSecret,
    UpdateWebhook,
)
from timetracker.domain.webhook import TEST_EVENT
from timetracker.http.access import caller_of, requires
from timetracker.http.as_of import position_at
from timetracker.http.errors import ApiError, not_found
from timetracker.http.keys import (
    body_key,
    path_key,
    query_key,
    read_pool_key,
    time_tracking_key,
    webhook_deliverer_key,
    webhook_deliveries_key,
    webhook_guard_key,
    webhooks_view_key,
)
from timetracker.http.pagination import page_args, pagination
from timetracker.http.paths import api_path
from timetracker.http.positions import reads
from timetracker.http.responses import json_response, utc
from timetracker.http.schemas.common import ErrorResponse, MessageResponse, path_id
from timetracker.http.schemas.webhooks import (
    CreateWebhookRequest,
    DeliveryListResponse,
    DeliveryPath,
    DeliveryQueuedResponse,
    ReplayRequest,
    ReplayResponse,
    UpdateWebhookRequest,
    WebhookListQuery,
    WebhookListResponse,
    WebhookResponse,
    WebhookSecretResponse,
    WebhookWriteResponse,
)
from timetracker.http.writes import etag, execute, expected_version, settle, shown, stamp_of
from timetracker.webhooks.dispatcher import DELIVERIES_CHANNEL, encode
from timetracker.webhooks.ssrf import ForbiddenTargetError
from timetracker.webhooks.store import NewDelivery, Subscription, delivery_json

routes = web.RouteTableDef()
WEBHOOKS = ("webhooks",)
WebhookPath = path_id("webhook_id")
REPLAY_BATCH = 500


def webhook_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API representation of a webhooks read-model row (never the secret)."""
    return {
        "id": row["id"],
        "owner_id": row["owner_id"],
        "url": row["url"],
        "events": row["events"],
        "description": row["description"],
        "active": row["active"],
        "disabled_reason": row["disabled_reason"],
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
        "version": row["version"],
    }


async def _webhook_or_404(request: web.Request, webhook_id: int) -> dict[str, Any]:
    """A webhook the caller may see: their own, or any for an admin."""
    row = await request.config_dict[webhooks_view_key].get(webhook_id)
    caller = caller_of(request)
    if row is None or (row["owner_id"] != caller.user_id and not caller.is_admin):
        raise not_found(f"Webhook {webhook_id} not found.")
    return webhook_json(row)


async def _check_url(request: web.Request, url: str | None) -> None:
    """400 `webhook_url_forbidden` for a URL deliveries may not go to."""
    if url is None:
        return
    try:
        await request.config_dict[webhook_guard_key].check_url(url)
    except ForbiddenTargetError as exc:
        raise ApiError(
            400,
            "Forbidden webhook URL",
            str(exc),
            "webhook_url_forbidden",
            errors={"url": [str(exc)]},
        ) from None


async def _notify_dispatcher(request: web.Request) -> None:
    async with request.config_dict[read_pool_key].connection() as conn:
        await conn.execute(f"NOTIFY {DELIVERIES_CHANNEL}")


@routes.get("/webhooks", allow_head=False)
@reads("webhooks")
@docs(tags=["webhooks"], summary="List webhooks (yours; an admin's: everyone's)")
@requires("read:webhooks")
@querystring_schema(WebhookListQuery)
@response_schema(WebhookListResponse, 200)
@response_schema(ErrorResponse, 400)
async def list_webhooks(request: web.Request) -> web.Response:
    page, per_page = page_args(request[query_key])
    caller = caller_of(request)
    owner = None if caller.is_admin else caller.user_id
    result = await request.config_dict[webhooks_view_key].list(owner, page, per_page)
    body = {
        "webhooks": [webhook_json(row) for row in result.rows],
        "pagination": pagination(page, per_page, result.total),
    }
    return json_response(body)


@routes.get("/webhooks/{webhook_id}", allow_head=False)
@reads("webhooks")
@docs(tags=["webhooks"], summary="Get one webhook")
@requires("read:webhooks")
@match_info_schema(WebhookPath)
@response_schema(WebhookResponse, 200)
@response_schema(ErrorResponse, 404)
async def get_webhook(request: web.Request) -> web.Response:
    webhook = await _webhook_or_404(request, request[path_key]["webhook_id"])
    return json_response({"webhook": webhook}, headers={"ETag": etag(webhook["version"])})


@routes.post("/webhooks")
@docs(
    tags=["webhooks"],
    summary="Subscribe a URL to events; the signing secret is in the answer, once",
    description="The URL must be https:// and every address its host resolves to public "
    "(400 `webhook_url_forbidden` otherwise); unknown event types are a 400.",
)
@requires("write:webhooks")
@json_schema(CreateWebhookRequest)
@response_schema(WebhookSecretResponse, 201)
@response_schema(ErrorResponse, 400)
async def create_webhook(request: web.Request) -> web.Response:
    values = request[body_key]
    await _check_url(request, values["url"])
    command = CreateWebhook(values=values, stamp=stamp_of(request))
    created = await execute(request, request.config_dict[time_tracking_key].create_webhook, command)
    headers = await settle(request, created, WEBHOOKS)
    headers["Location"] = api_path(f"/webhooks/{created.id}")
    webhook = await shown(request, created, headers, lambda: _webhook_or_404(request, created.id))
    body = {"message": "Webhook created successfully", "webhook": webhook, "secret": created.secret}
    return json_response(body, status=201, headers=headers)


@routes.put("/webhooks/{webhook_id}")
@routes.patch("/webhooks/{webhook_id}")
@docs(tags=["webhooks"], summary="Change a webhook (url, events, description, active)")
@requires("write:webhooks")
@match_info_schema(WebhookPath)
@json_schema(UpdateWebhookRequest)
@response_schema(WebhookWriteResponse, 200)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 412)
async def update_webhook(request: web.Request) -> web.Response:
    values = request[body_key]
    await _check_url(request, values.get("url"))
    command = UpdateWebhook(
        webhook_id=request[path_key]["webhook_id"],
        values=values,
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(request, request.config_dict[time_tracking_key].update_webhook, command)
    headers = await settle(request, written, WEBHOOKS)
    webhook = await shown(request, written, headers, lambda: _webhook_or_404(request, written.id))
    return json_response(
        {"message": "Webhook updated successfully", "webhook": webhook}, headers=headers
    )


@routes.delete("/webhooks/{webhook_id}")
@docs(tags=["webhooks"], summary="Delete a webhook: nothing more is sent to it")
@requires("write:webhooks")
@match_info_schema(WebhookPath)
@response_schema(MessageResponse, 200)
@response_schema(ErrorResponse, 404)
@response_schema(ErrorResponse, 412)
async def delete_webhook(request: web.Request) -> web.Response:
    command = DeleteWebhook(
        webhook_id=request[path_key]["webhook_id"],
        stamp=stamp_of(request),
        expected_version=expected_version(request),
    )
    written = await execute(request, request.config_dict[time_tracking_key].delete_webhook, command)
    headers = await settle(request, written, WEBHOOKS)
    return json_response({"message": "Webhook deleted successfully"}, headers=headers)


@routes.post("/webhooks/{webhook_id}/rotate-secret")
@docs(tags=["webhooks"], summary="A new signing secret (shown once); the old one stops")
@requires("write:webhooks")
@match_info_schema(WebhookPath)
@response_schema(WebhookSecretResponse, 200)
@response_schema(ErrorResponse, 404)
async def rotate_webhook_secret(request: web.Request) -> web.Response:
    command = RotateWebhookSecret(request[path_key]["webhook_id"], stamp_of(request))
    rotated = await execute(
        request, request.config_dict[time_tracking_key].rotate_webhook_secret, command
    )
    headers = await settle(request, rotated, WEBHOOKS)
    webhook = await _webhook_or_404(request, rotated.id)
    body = {"message": "Secret rotated successfully", "webhook": webhook, "secret": rotated.secret}
    return json_response(body, headers=headers)


@routes.post("/webhooks/{webhook_id}/test")
@docs(tags=["webhooks"], summary="Queue a `webhook.test` delivery to the webhook's URL")
@requires("write:webhooks")
@match_info_schema(WebhookPath)
@response_schema(DeliveryQueuedResponse, 202)
@response_schema(ErrorResponse, 404)
async def test_webhook(request: web.Request) -> web.Response:
    webhook = await _webhook_or_404(request, request[path_key]["webhook_id"])
    caller = caller_of(request)
    body = encode(
        {
            "type": TEST_EVENT,
            "timestamp": datetime.now(UTC),
            "data": {"webhook_id": webhook["id"], "url": webhook["url"]},
            "position": None,
            "actor": {
                "user_id": caller.user_id,
                "username": caller.username,
                "token_prefix": caller.token_prefix,
            },
        }
    )
    deliveries = request.config_dict[webhook_deliveries_key]
    await deliveries.add([NewDelivery(webhook["id"], TEST_EVENT, None, body)])
    await _notify_dispatcher(request)
    return json_response({"message": "Test delivery queued"}, status=202)


@routes.get("/webhooks/{webhook_id}/deliveries", allow_head=False)
@reads()
@docs(
    tags=["webhooks"],
    summary="A webhook's deliveries, newest first: state, attempts, last status, latency",
)
@requires("read:webhooks")
@match_info_schema(WebhookPath)
@querystring_schema(WebhookListQuery)
@response_schema(DeliveryListResponse, 200)
@response_schema(ErrorResponse, 404)
async def list_deliveries(request: web.Request) -> web.Response:
    webhook = await _webhook_or_404(request, request[path_key]["webhook_id"])
    page, per_page = page_args(request[query_key])
    rows, total = await request.config_dict[webhook_deliveries_key].page(
        webhook["id"], page, per_page
    )
    body = {
        "deliveries": [delivery_json(row) for row in rows],
        "pagination": pagination(page, per_page, total),
    }
    return json_response(body)


@routes.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/retry")
@docs(tags=["webhooks"], summary="Send a delivery again (in its turn, as soon as possible)")
@requires("write:webhooks")
@match_info_schema(DeliveryPath)
@response_schema(DeliveryQueuedResponse, 202)
@response_schema(ErrorResponse, 404)
async def retry_delivery(request: web.Request) -> web.Response:
    path = request[path_key]
    webhook = await _webhook_or_404(request, path["webhook_id"])
    if not await request.config_dict[webhook_deliveries_key].retry(
        webhook["id"], path["delivery_id"]
    ):
        raise not_found(f"Delivery {path['delivery_id']} of webhook {webhook['id']} not found.")
    await _notify_dispatcher(request)
    return json_response({"message": "Delivery queued again"}, status=202)


@routes.post("/webhooks/{webhook_id}/replay")
@docs(
    tags=["webhooks"],
    summary="Send past events again, from a log position or a moment on",
    description="Queues a new delivery of every event the webhook selects now (and its "
    "owner may read) from `from_position` on, or recorded after `from_time`, up to the "
    "dispatcher's position; what comes later is delivered anyway. Replays have new "
    "`webhook-id`s and `replay: true`.",
)
@requires("write:webhooks")
@match_info_schema(WebhookPath)
@json_schema(ReplayRequest)
@response_schema(ReplayResponse, 202)
@response_schema(ErrorResponse, 400)
@response_schema(ErrorResponse, 404)
async def replay_webhook(request: web.Request) -> web.Response:
    values = request[body_key]
    webhook_id = request[path_key]["webhook_id"]
    load = functools.partial(request.config_dict[time_tracking_key].load_webhook, webhook_id)
    aggregate = await execute(request, load, stamp_of(request))
    subscription = Subscription(
        aggregate.number,
        aggregate.owner_id,
        aggregate.owner_is_admin,
        aggregate.url,
        list(aggregate.events),
        aggregate.secret,
        aggregate.active,
    )
    if "from_time" in values:
        after = await position_at(request, values["from_time"])
    else:
        after = values["from_position"] - 1
    deliveries = request.config_dict[webhook_deliveries_key]
    upto = await deliveries.position()
    replay = functools.partial(
        request.config_dict[webhook_deliverer_key].replay,
        subscription,
        upto=upto,
        limit=REPLAY_BATCH,
    )
    cursor, count = after, 0
    while cursor < upto:
        batch, reached = await execute(request, replay, cursor)
        if batch:
            await deliveries.add(batch)
            count += len(batch)
        if reached <= cursor:
            break
        cursor = reached
    await _notify_dispatcher(request)
    body = {
        "message": "Replay queued",
        "deliveries": count,
        "from_position": after + 1,
        "to_position": upto,
    }
    return json_response(body, status=202)
