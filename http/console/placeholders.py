"""Pages still being built (Backups, Restore, Read models, History): a heading and a pointer.

Each is replaced by its own module as it is built; this module goes when the last one is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from timetracker.http.console.rendering import page

PENDING = {
    "/backups": ("Backups", "timetracker backup --help"),
    "/restore": ("Restore", "timetracker backup --help"),
    "/projections": ("Read models", "timetracker projections --help"),
    "/history": ("History", "timetracker audit --help"),
}


def _placeholder(title: str, command: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def show_placeholder(request: web.Request) -> web.Response:
        return page(request, "placeholder.html", {"title": title, "command": command})

    return show_placeholder


routes = [web.get(path, _placeholder(*texts), allow_head=False) for path, texts in PENDING.items()]
