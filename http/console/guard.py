"""The console's middlewares: security headers, HTML error pages, sessions and CSRF.

Order (outermost first): headers on every answer, error pages included; then errors turned
into pages; then the session guard, which lets only signed-in admins past, and refuses any
state-changing request that does not carry the session's CSRF token.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import RedisError

from timetracker.http.console.keys import console_user_key, session_key, session_store_key
from timetracker.http.console.rendering import error_page
from timetracker.http.console.sessions import COOKIE_NAME, Session
from timetracker.http.keys import accounts_view_key, maintenance_key

log = logging.getLogger(__name__)

# No inline script or style anywhere: every script and stylesheet is a file the app serves.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
STATIC_PREFIX = "/admin/static/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def public(handler: Handler) -> Handler:
    """Mark a console handler as open without signing in (the sign-in form itself)."""
    handler.__console_public__ = True  # type: ignore[attr-defined]
    return handler


def passive(handler: Handler) -> Handler:
    """Mark a GET a page makes by itself (a live refresh): it needs a session but does not
    count as the person's activity for the idle timeout."""
    handler.__console_passive__ = True  # type: ignore[attr-defined]
    return handler


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CSP without inline script, no framing, no sniffing; pages are never cached."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith(STATIC_PREFIX):
        response.headers["Cache-Control"] = "no-store"
    return response


@web.middleware
async def error_pages_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Failures as HTML pages in the console's layout, never the API's JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        titles = {404: "Page not found", 405: "Method not allowed", 413: "Upload too large"}
        title = titles.get(exc.status, exc.reason)
        return error_page(request, exc.status, title, _explain(exc.status))
    except RedisError:
        log.warning("Console: Redis unreachable", exc_info=True)
        return error_page(
            request,
            503,
            "Service unavailable",
            "Sessions are kept in Redis, which does not answer. Try again shortly.",
            {"Retry-After": "5"},
        )
    except Exception:  # a fault: logged, and a page that says so instead of JSON
        log.exception("Unhandled error in console %s %s", request.method, request.path)
        return error_page(
            request,
            500,
            "Something went wrong",
            "The console could not handle this request. The server's log has the details.",
        )


def _explain(status: int) -> str:
    if status == 404:
        return "There is no console page at this address."
    if status == 405:
        return "This page does not take that kind of request."
    return "The request could not be handled."


async def _csrf_token_sent(request: web.Request) -> str | None:
    """The CSRF token of a state-changing request: the header, or a form's field.

    Multipart uploads must send the header: the body is not read here.
    """
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def forbidden_page(request: web.Request, message: str) -> web.Response:
    """The 403 page."""
    return error_page(request, 403, "Forbidden", message)


@web.middleware
async def session_guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find the browser's session; require a signed-in, active admin on every page but the
    sign-in form; check the CSRF token of every state-changing request."""
    if request.path.startswith(STATIC_PREFIX):
        return await handler(request)
    store = request.config_dict[session_store_key]
    handler_of_route = request.match_info.handler
    activity = not getattr(handler_of_route, "__console_passive__", False)
    session = await store.find(request.cookies.get(COOKIE_NAME), activity=activity)
    if session is not None:
        request[session_key] = session
    is_public = getattr(handler_of_route, "__console_public__", False)
    if request.method not in SAFE_METHODS:
        if session is None and request.path == "/admin/logout":
            raise web.HTTPSeeOther("/admin/login?signed_out=1")  # expired: nothing to end
        sent = await _csrf_token_sent(request)
        if (
            session is None
            or sent is None
            or not secrets.compare_digest(sent.encode(), session.csrf_token.encode())
        ):
            return forbidden_page(
                request,
                "This form has expired or did not come from this console. "
                "Reload the page and try again.",
            )
    if is_public:
        return await handler(request)
    if session is None or session.user_id is None:
        raise web.HTTPSeeOther(_login_url(request))
    user = await _signed_in_user(request, session)
    if user is None or not user["is_active"]:
        # Deactivated since signing in: the session ends here.
        await store.end(session.id)
        raise web.HTTPSeeOther(_login_url(request))
    request[console_user_key] = user
    if user["role"] != "admin":
        return forbidden_page(request, "The console is for admin users only.")
    return await handler(request)


async def _signed_in_user(request: web.Request, session: Session) -> dict[str, Any] | None:
    """The session's user as the accounts read model shows them now (role and state may
    have changed since sign-in). While a restore runs, that read model is being rebuilt
    from the archive: the console then trusts who signed in, so the restore's own pages
    keep working until it ends."""
    if await request.config_dict[maintenance_key].current() is not None:
        return {
            "id": session.user_id,
            "username": session.username,
            "role": "admin",
            "is_active": True,
        }
    return await request.config_dict[accounts_view_key].get_user(session.user_id or 0)


def _login_url(request: web.Request) -> str:
    if request.method == "GET" and request.path != "/admin/":
        return str(request.app.router["login"].url_for().with_query(next=request.path_qs))
    return str(request.app.router["login"].url_for())
