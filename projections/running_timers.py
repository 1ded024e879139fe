"""The running-timers read model in Redis: which entry each user's timer runs, if any."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from timetracker.domain.timer import Timer, timer_id
from timetracker.projections.base import RedisProjection, RedisReads, RedisWrites
from timetracker.projections.redis_keys import (
    ReadModelUnavailableError,
    generations_stem,
    live_key,
)
from timetracker.projections.script_pipeline import REDIS_WAIT_SECONDS, PipelinedScript

TIMERS_KEY = "timers"


class RunningTimersProjection(RedisProjection):
    """Keeps the `timers` hash (timer id → running entry id) in step with Timer events."""

    name = "running_timers"

    def fold(
        self,
        events: Sequence[DomainEventProtocol[Any]],
        current: RedisReads,
        writes: RedisWrites,
    ) -> None:
        for event in events:
            if isinstance(event, Timer.Started):
                writes.hash_values[(TIMERS_KEY, event.originator_id.hex)] = str(event.entry_id)
            elif isinstance(event, Timer.Stopped):
                writes.hash_values[(TIMERS_KEY, event.originator_id.hex)] = None


# One round trip for a user's running entry: the live generation, then its hash's field.
# KEYS: the live pointer; ARGV: the generations' key prefix up to the number
# (`<prefix>running_timers:g`), the hash's name after it, the field. {0} while none is live.
_RUNNING_ENTRY = """
local generation = redis.call('GET', KEYS[1])
if not generation then return {0} end
return {1, redis.call('HGET', ARGV[1] .. generation .. ':' .. ARGV[2], ARGV[3])}
"""


class RunningTimersView:
    """Queries on running timers (over a pipelined connection of its own: `close` it)."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._live = live_key(prefix, RunningTimersProjection.name)
        self._generations = generations_stem(prefix, RunningTimersProjection.name)
        self._script = PipelinedScript(client, _RUNNING_ENTRY)

    async def running_entry_id(self, user_id: int) -> int | None:
        """The id of the user's running entry, or None."""
        args = [self._generations, TIMERS_KEY, timer_id(user_id).hex]
        try:
            found = await self._script.run([self._live], args, REDIS_WAIT_SECONDS)
        except TimeoutError:
            raise RedisTimeoutError("Redis did not answer in time") from None
        if not found[0]:
            raise ReadModelUnavailableError(
                f"The {RunningTimersProjection.name} read model is being rebuilt."
            )
        return None if found[1] is None else int(found[1])

    async def close(self) -> None:
        """Close the view's own Redis connection."""
        await self._script.close()
