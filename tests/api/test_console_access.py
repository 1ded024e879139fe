"""Every console route is closed without a signed-in admin's session: API tokens open none
of them, a page sends the visitor to the sign-in form, and a state change without the
session's CSRF token is refused. The list of routes comes from the app, so a new console
route cannot go unchecked."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents
from timetracker.http.console.app import PREFIX

OPEN = {("GET", "/admin/login"), ("POST", "/admin/login")}  # the sign-in form itself


def _console_routes(app: web.Application) -> list[tuple[str, str]]:
    [console] = [
        r
        for r in app.router.resources()
        if isinstance(r, web.PrefixedSubAppResource) and r.get_info()["prefix"] == PREFIX
    ]
    found = []
    for route in console.get_info()["app"].router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = str(info.get("path") or info.get("formatter") or info.get("prefix"))
        if route.method != "HEAD" and "/static" not in path:
            found.append((route.method, re.sub(r"\{[^}]+\}", "1", path)))
    return found


async def test_no_console_route_opens_to_a_token_or_without_a_session(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    routes = _console_routes(api.app)
    assert ("GET", "/admin/") in routes and ("POST", "/admin/api-tokens") in routes
    before = await count_events()
    for method, path in routes:
        if (method, path) in OPEN:
            continue
        for headers in ({}, admin.headers, {"X-API-Key": admin.token}):
            response = await api.request(
                method, path, headers=headers, data={"name": "x"}, allow_redirects=False
            )
            if method == "GET" or path == "/admin/logout":  # no session: nothing to end
                assert response.status == 303, (method, path, headers)
                assert response.headers["Location"].startswith("/admin/login")
            else:
                assert response.status == 403, (method, path, headers)
                assert "did not come from this console" in await response.text()
                assert response.headers["Content-Type"].startswith("text/html")
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert await count_events() == before


async def test_the_sign_in_form_and_static_files_are_open(api: TestClient) -> None:
    form = await api.get("/admin/login")
    assert form.status == 200
    assert 'name="csrf_token"' in await form.text()
    css = await api.get(
        re.findall(r'href="(/admin/static/console\.css[^"]*)"', await form.text())[0]
    )
    assert css.status == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert (await api.get("/admin", allow_redirects=False)).headers["Location"] == "/admin/"
    missing = await api.get("/admin/nowhere", allow_redirects=False)
    assert missing.status in (303, 404)
