"""Rendering a console page: the template, plus what every page's layout needs."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from timetracker.http.console.keys import console_user_key, session_key
from timetracker.http.console.nav import NAV


def page(
    request: web.Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The rendered template with the navigation, the CSRF token, the signed-in user and the
    session's one-time message."""
    session = request.get(session_key)
    user = request.get(console_user_key)
    values: dict[str, Any] = {
        "nav": NAV if user is not None else (),
        "current_path": request.path,
        "csrf_token": session.csrf_token if session is not None else "",
        "user": user,
        "flash": session.flash if session is not None else None,
        **(context or {}),
    }
    response = aiohttp_jinja2.render_template(template, request, values, status=status)
    if headers:
        response.headers.update(headers)
    return response


def error_page(
    request: web.Request,
    status: int,
    title: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The console's error page (403, 404, 429, 503...), in the layout, with a way back."""
    return page(
        request,
        "error.html",
        {"title": title, "message": message, "status": status},
        status=status,
        headers=headers,
    )
