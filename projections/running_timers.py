"""The running-timers read model in Redis: which entry each user's timer runs, if any."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from redis.asyncio import Redis

from timetracker.domain.timer import Timer, timer_id
from timetracker.projections.base import RedisProjection, RedisReads, RedisWrites
from timetracker.projections.redis_keys import live_prefix

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


class RunningTimersView:
    """Queries on running timers."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    async def running_entry_id(self, user_id: int) -> int | None:
        """The id of the user's running entry, or None."""
        data = await live_prefix(self.client, self.prefix, RunningTimersProjection.name)
        value = await self.client.hget(data + TIMERS_KEY, timer_id(user_id).hex)
        return None if value is None else int(value)
