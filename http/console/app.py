"""The console as a sub-application of the service, mounted at /admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from timetracker.http.console import (
    backups_page,
    dashboard,
    history_page,
    imports_page,
    projections_page,
    restore_page,
    restoring,
    signin,
    tokens,
    users,
)
from timetracker.http.console.guard import (
    error_pages_middleware,
    security_headers_middleware,
    session_guard_middleware,
)
from timetracker.http.console.keys import (
    session_store_key,
    signin_limiter_key,
    signin_windows_key,
)
from timetracker.http.console.sessions import SessionStore
from timetracker.http.keys import redis_key, settings_key
from timetracker.http.middlewares.body_timeout import body_timeout_middleware
from timetracker.http.rate_limit import RateLimiter, Window

PREFIX = "/admin"
STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"


def create_console() -> web.Application:
    """The console's pages, their static files and middlewares (see `guard.py`)."""
    console = web.Application(
        # The body timeout first: the sign-in form is open to anyone, and a body trickling
        # in a byte at a time must not hold a connection (the restore upload keeps its own
        # clock, as the API's uploads do).
        middlewares=[
            body_timeout_middleware,
            security_headers_middleware,
            error_pages_middleware,
            session_guard_middleware,
        ]
    )
    environment = aiohttp_jinja2.setup(
        console,
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.globals["static"] = _static_url(console)
    for module in (
        signin,
        dashboard,
        tokens,
        users,
        backups_page,
        restore_page,
        imports_page,
        restoring,
        projections_page,
        history_page,
    ):
        console.router.add_routes(module.routes)
    console.router.add_static("/static/", STATIC_DIR, name="static", append_version=True)
    return console


def _static_url(console: web.Application) -> object:
    def static(filename: str) -> str:
        """The URL of a static file, with a version so a new release is fetched anew."""
        return str(console.router["static"].url_for(filename=filename))

    return static


async def console_ctx(app: web.Application) -> AsyncIterator[None]:
    """The console's shared objects on the root app: sessions and sign-in limits in Redis."""
    settings = app[settings_key]
    redis = app[redis_key]
    app[session_store_key] = SessionStore(
        redis,
        settings.redis_prefix,
        settings.console_session_idle_seconds,
        settings.console_session_max_seconds,
    )
    app[signin_limiter_key] = RateLimiter(redis, settings.redis_prefix)
    window = settings.console_signin_window_seconds
    app[signin_windows_key] = {
        "username": Window("signin-user", settings.console_signin_per_username, window),
        "address": Window("signin-address", settings.console_signin_per_address, window),
    }
    yield
    await app[signin_limiter_key].close()


async def to_dashboard(request: web.Request) -> web.Response:
    """/admin without the slash."""
    raise web.HTTPMovedPermanently(f"{PREFIX}/")


def mount_console(app: web.Application) -> None:
    """Serve the console under /admin/ (after the Redis client exists: `console_ctx`)."""
    app.cleanup_ctx.append(console_ctx)
    app.router.add_get(PREFIX, to_dashboard, allow_head=False)
    app.add_subapp(PREFIX, create_console())
