"""The one way this package calls synchronous code: `in_thread`, off the event loop.

The event store, psycopg's synchronous connections and file I/O block; a coroutine hands
them to a thread and awaits the result. Commands go to the command pool (sized to the event
store's connections, `app.py`); everything else to the loop's default pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

R = TypeVar("R")


async def in_thread(function: Callable[..., R], *args: Any, executor: Executor | None = None) -> R:
    """`function(*args)` run in a thread of `executor` (default: the loop's pool)."""
    return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
