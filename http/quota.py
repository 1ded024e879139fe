"""/api/v1/rate-limit: the calling token's limits, what is left, and when it refills."""

from __future__ import annotations

import math

from aiohttp import web
from aiohttp_apigami import docs, response_schema
from marshmallow import Schema, fields

from timetracker.domain.scopes import ANY_TOKEN
from timetracker.http.access import requires, uncounted
from timetracker.http.keys import rate_decision_key, rate_windows_key
from timetracker.http.responses import json_response

routes = web.RouteTableDef()


class WindowSchema(Schema):
    limit = fields.Integer(required=True)
    remaining = fields.Integer(required=True)
    reset = fields.Integer(required=True, metadata={"description": "epoch seconds"})
    window_seconds = fields.Integer(required=True)


class RateLimitResponse(Schema):
    rate_limit = fields.Dict(keys=fields.String(), values=fields.Nested(WindowSchema))


@routes.get("/rate-limit", allow_head=False)
@docs(
    tags=["system"],
    summary="The calling token's rate limits (this request is not counted)",
)
@requires(ANY_TOKEN)
@uncounted
@response_schema(RateLimitResponse, 200)
async def get_rate_limit(request: web.Request) -> web.Response:
    if not request.config_dict[rate_windows_key]:
        return json_response({"rate_limit": {}})
    decision = request[rate_decision_key]
    return json_response(
        {
            "rate_limit": {
                state.window.name: {
                    "limit": state.window.quota,
                    "remaining": state.remaining,
                    "reset": math.ceil(state.reset_at),
                    "window_seconds": state.window.seconds,
                }
                for state in decision.windows
            }
        }
    )
