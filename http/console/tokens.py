"""/admin/api-tokens: every token; create one (shown once, with a copy button); revoke one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from timetracker.commands.errors import NotFoundError
from timetracker.commands.messages import IssueApiToken, RevokeApiToken
from timetracker.domain.errors import ConflictError, InvalidValueError, UserDeactivatedError
from timetracker.domain.scopes import KNOWN_SCOPES
from timetracker.http.console.actions import (
    console_stamp,
    run_command,
    shown_in_accounts,
    write_accounts,
)
from timetracker.http.console.keys import session_key, session_store_key
from timetracker.http.console.rendering import page
from timetracker.http.keys import accounts_view_key, time_tracking_key, token_usage_key

routes = web.RouteTableDef()
MAX_EXPIRY_DAYS = 3650
# The form lists the broad scopes first.
BROAD_SCOPES = ["admin:all", "read:*", "write:*"]
SCOPE_ORDER = [*BROAD_SCOPES, *sorted(KNOWN_SCOPES - set(BROAD_SCOPES))]


async def _tokens_page(
    request: web.Request,
    *,
    new_token: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    view = request.config_dict[accounts_view_key]
    tokens = await view.all_tokens()
    last_used = await request.config_dict[token_usage_key].last_used()
    now = datetime.now(UTC)
    for token in tokens:
        token["last_used_at"] = last_used.get(token["id"])
        token["expired"] = token["expires_at"] is not None and token["expires_at"] <= now
    users = [u for u in await view.all_users() if u["is_active"]]
    return page(
        request,
        "api_tokens.html",
        {
            "tokens": tokens,
            "users": users,
            "scopes": SCOPE_ORDER,
            "new_token": new_token,
            "error": error,
        },
        status=status,
    )


@routes.get("/api-tokens", name="api_tokens")
async def show_tokens(request: web.Request) -> web.Response:
    return await _tokens_page(request)


def _expiry(raw: str) -> datetime | None:
    if not raw.strip():
        return None
    try:
        days = int(raw)
    except ValueError:
        raise InvalidValueError("expires_in_days", "Must be a whole number of days.") from None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise InvalidValueError("expires_in_days", f"Must be 1 to {MAX_EXPIRY_DAYS} days.")
    return datetime.now(UTC) + timedelta(days=days)


@routes.post("/api-tokens")
async def create_token(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("user", ""))
    name = str(form.get("name", "")).strip()
    scopes = [str(s) for s in form.getall("scopes", [])]
    try:
        if not name or len(name) > 200:
            raise InvalidValueError("name", "A name of 1 to 200 characters is required.")
        message = IssueApiToken(
            username,
            scopes,
            name,
            _expiry(str(form.get("expires_in_days", ""))),
            console_stamp(request),
        )
        issued = await run_command(
            request, request.config_dict[time_tracking_key].issue_api_token, message
        )
    except InvalidValueError as exc:
        return await _tokens_page(request, error=exc.message, status=400)
    except NotFoundError:
        return await _tokens_page(request, error=f"No user is named {username!r}.", status=400)
    except UserDeactivatedError as exc:
        return await _tokens_page(request, error=str(exc), status=409)
    await shown_in_accounts(request, issued.position)
    new_token = {"token": issued.token, "prefix": issued.prefix, "name": name, "user": username}
    return await _tokens_page(request, new_token=new_token, status=201)


@routes.post(r"/api-tokens/{token_id:\d+}/revoke")
async def revoke_token(request: web.Request) -> web.Response:
    token_id = int(request.match_info["token_id"])
    store = request.config_dict[time_tracking_key]
    try:
        await write_accounts(
            request, store.revoke_api_token, RevokeApiToken(token_id, console_stamp(request))
        )
    except NotFoundError:
        raise web.HTTPNotFound() from None
    except ConflictError as exc:
        return await _tokens_page(request, error=str(exc), status=409)
    await request.config_dict[session_store_key].flash(
        request[session_key], f"Token {token_id} was revoked: it no longer works."
    )
    raise web.HTTPSeeOther("/admin/api-tokens")
