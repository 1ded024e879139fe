"""Keeps the garbage collector off what a process builds once, at startup.

A full collection walks every object the collector tracks. In a serving process the
modules, routes, schemas and OpenAPI document that startup builds make that 25-65 ms, a
pause that every request in flight waits through (four to six times in 20 s of load; in the
projections process twelve times, each one holding up a batch that writes wait for). Moved
to the permanent generation once startup is done (`gc.freeze`), they are no longer walked:
the same collections then take 1-4 ms. Only the processes
`serve` starts do this; an app made by a test leaves the test process's collector alone.
"""

from __future__ import annotations

import gc

from aiohttp import web


def freeze_startup_objects() -> None:
    """Collect what startup left behind, then keep the collector off what survived."""
    gc.collect()
    gc.freeze()


async def freeze_after_startup(app: web.Application) -> None:
    """An `on_startup` callback, appended last: `freeze_startup_objects` once the app's
    pools, clients and document are built."""
    freeze_startup_objects()
