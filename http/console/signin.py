"""/admin/login and /admin/logout: signing people in with a password, and out."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from aiohttp import web

from timetracker.commands.passwords import verify_password
from timetracker.http.console.guard import forbidden_page, public
from timetracker.http.console.keys import (
    session_key,
    session_store_key,
    signin_limiter_key,
    signin_windows_key,
)
from timetracker.http.console.rendering import error_page, page
from timetracker.http.console.sessions import COOKIE_NAME, COOKIE_PATH, Session
from timetracker.http.keys import accounts_view_key, settings_key
from timetracker.http.threads import in_thread

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

WRONG_CREDENTIALS = "Wrong username or password."
MAX_USERNAME_LENGTH = 200


def set_session_cookie(
    request: web.Request, response: web.StreamResponse, session: Session
) -> None:
    """The cookie that names the session: HttpOnly, SameSite=Strict, Secure over https (and
    always with `CONSOLE_SECURE_COOKIE`, for a TLS-terminating proxy in front)."""
    response.set_cookie(
        COOKIE_NAME,
        session.id,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=request.secure or request.config_dict[settings_key].console_secure_cookie,
    )


@routes.get("/login", name="login")
@public
async def show_login(request: web.Request) -> web.StreamResponse:
    session = request.get(session_key)
    if session is not None and session.signed_in:
        raise web.HTTPSeeOther("/admin/")
    if session is None:
        session = await request.config_dict[session_store_key].start(None)
        request[session_key] = session
    notice = "You have signed out." if "signed_out" in request.query else None
    response = _login_form(request, notice=notice)
    set_session_cookie(request, response, session)
    return response


def _login_form(
    request: web.Request,
    *,
    error: str | None = None,
    notice: str | None = None,
    username: str = "",
    status: int = 200,
    next_page: str | None = None,
) -> web.Response:
    return page(
        request,
        "login.html",
        {
            "error": error,
            "notice": notice,
            "username": username,
            "next": safe_next(next_page or request.query.get("next")),
        },
        status=status,
    )


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a console path, never another site."""
    if target and target.startswith("/admin/") and "//" not in target and "\\" not in target:
        return target
    return "/admin/"


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{-(-seconds // 60)} minutes"


def _subject(kind: str, value: str) -> str:
    return f"console-signin:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


async def _over_limit(request: web.Request, username: str) -> int | None:
    """Count this attempt against the username and the client address; the seconds to wait
    when either has none left."""
    limiter = request.config_dict[signin_limiter_key]
    windows = request.config_dict[signin_windows_key]
    by_user = await limiter.hit(_subject("user", username.lower()), [windows["username"]])
    by_address = await limiter.hit(
        _subject("address", request.remote or "unknown"), [windows["address"]]
    )
    refused = [d for d in (by_user, by_address) if not d.admitted]
    return max(d.retry_after() for d in refused) if refused else None


@routes.post("/login")
@public
async def sign_in(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()[:MAX_USERNAME_LENGTH]
    password = str(form.get("password", ""))
    retry_after = await _over_limit(request, username)
    if retry_after is not None:
        log.warning("Console sign-in refused: too many attempts (from %s)", request.remote)
        return error_page(
            request,
            429,
            "Too many sign-in attempts",
            "Too many sign-in attempts for this username or from this address. "
            f"Try again in {_duration(retry_after)}.",
            {"Retry-After": str(retry_after)},
        )
    user = await _check_credentials(request, username, password)
    if user is None:
        log.info("Console sign-in failed (from %s)", request.remote)
        # The page asked for stays the one to go to after the next try.
        next_page = str(form.get("next") or "")
        return _login_form(
            request, error=WRONG_CREDENTIALS, username=username, status=401, next_page=next_page
        )
    if user["role"] != "admin":
        log.info("Console sign-in refused: %s is not an admin", user["username"])
        return forbidden_page(request, "The console is for admin users only.")
    store = request.config_dict[session_store_key]
    old = request.get(session_key)
    if old is not None:
        await store.end(old.id)
    # A new id: a session id planted before sign-in is worth nothing.
    session = await store.start(user["id"], user["username"])
    log.info("Console sign-in: %s", user["username"])
    response = web.HTTPSeeOther(safe_next(str(form.get("next") or "")))
    set_session_cookie(request, response, session)
    raise response


async def _check_credentials(
    request: web.Request, username: str, password: str
) -> dict[str, Any] | None:
    """The active user these credentials name, or None (unknown users cost the same time)."""
    record = (
        await request.config_dict[accounts_view_key].sign_in_record(username) if username else None
    )
    password_hash = record["password_hash"] if record is not None else None
    matches = await in_thread(verify_password, password_hash, password)
    if not matches or record is None or not record["is_active"]:
        return None
    return record


@routes.post("/logout", name="logout")
async def sign_out(request: web.Request) -> web.StreamResponse:
    session = request[session_key]
    await request.config_dict[session_store_key].end(session.id)
    response = web.HTTPSeeOther("/admin/login?signed_out=1")
    response.del_cookie(COOKIE_NAME, path=COOKIE_PATH)
    raise response
