"""Running a command from a console form: stamped with the signed-in admin, off the loop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web

from timetracker.commands.messages import Written
from timetracker.domain.values import Stamp
from timetracker.http.console.keys import console_user_key
from timetracker.http.keys import (
    command_executor_key,
    freshness_key,
    request_id_key,
    settings_key,
)
from timetracker.http.threads import in_thread

C = TypeVar("C")
R = TypeVar("R")


def console_stamp(request: web.Request) -> Stamp:
    """Who acts (the signed-in admin, no token), when, and in which request."""
    user = request[console_user_key]
    return Stamp(
        at=datetime.now(UTC),
        user_id=int(user["id"]),
        request_id=request.get(request_id_key, "console"),
        is_admin=True,
    )


async def run_command(request: web.Request, command: Callable[[C], R], message: C) -> R:
    """Run one command in the command thread pool (the event store is synchronous)."""
    return await in_thread(command, message, executor=request.config_dict[command_executor_key])


async def shown_in_accounts(request: web.Request, position: int | None) -> None:
    """Wait (bounded) until the accounts read model shows a write, so the next page does."""
    if position is None:
        return
    freshness = request.config_dict[freshness_key]
    await freshness.wait_for(
        ["accounts"], position, request.config_dict[settings_key].read_your_writes_timeout
    )
    await freshness.answering(position)  # also in any process's next users list


async def write_accounts(
    request: web.Request, command: Callable[[C], Written], message: C
) -> Written:
    """Run an accounts command and wait until the accounts read model shows it."""
    written = await run_command(request, command, message)
    await shown_in_accounts(request, written.position)
    return written
