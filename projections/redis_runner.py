"""Runs Redis projections: batches of events folded in memory, written with MULTI/EXEC."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification

from timetracker.projections.runner import LogFollower


def tracking_key(prefix: str, name: str) -> str:
    """The Redis key holding a Redis projection's position."""
    return f"{prefix}tracking:{name}"


@dataclass
class RedisWrites:
    """What one batch changes, written in one MULTI/EXEC with the new position."""

    increments: defaultdict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    hash_values: dict[tuple[str, str], str | None] = field(default_factory=dict)
    values: dict[str, str | None] = field(default_factory=dict)


class RedisProjection(ABC):
    """A read model in Redis: which keys a batch needs to read, and how it changes them.

    Keys are relative; the runner adds the configured prefix.
    """

    name: str

    def keys_to_read(self, events: Sequence[DomainEventProtocol[Any]]) -> list[str]:
        """Keys whose current values `fold` needs (none by default)."""
        return []

    @abstractmethod
    def fold(
        self,
        events: Sequence[DomainEventProtocol[Any]],
        current: dict[str, str | None],
        writes: RedisWrites,
    ) -> None:
        """Turn a batch of events into writes; `current` holds the keys asked for."""


class RedisProjectionRunner(LogFollower):
    """Applies the log to one Redis projection, 500 events per MULTI/EXEC.

    The position key is WATCHed while the batch is read and folded: if another runner
    moves it first, EXEC fails and this runner continues from the newer position.
    """

    def __init__(
        self, store: Application[Any], projection: RedisProjection, redis_url: str, prefix: str
    ) -> None:
        super().__init__(store)
        self.projection = projection
        self.name = projection.name
        self.prefix = prefix
        self.client = redis.Redis.from_url(redis_url, decode_responses=True)
        self._tracking_key = tracking_key(prefix, projection.name)

    def close(self) -> None:
        self.client.close()

    def stored_position(self) -> int:
        return int(self.client.get(self._tracking_key) or 0)

    def _apply(self, notifications: Sequence[Notification]) -> None:
        events = [self.store.mapper.to_domain_event(n) for n in notifications]
        last = notifications[-1].id
        with self.client.pipeline() as pipe:
            try:
                pipe.watch(self._tracking_key)  # type: ignore[no-untyped-call]
                stored = int(pipe.get(self._tracking_key) or 0)
                if stored != self.position:
                    self.position = stored
                    return
                keys = self.projection.keys_to_read(events)
                values: list[Any] = pipe.mget([self.prefix + k for k in keys]) if keys else []
                writes = RedisWrites()
                self.projection.fold(events, dict(zip(keys, values, strict=True)), writes)
                pipe.multi()
                self._queue(pipe, writes)
                pipe.set(self._tracking_key, last)
                pipe.execute()
            except redis.WatchError:
                self.position = self.stored_position()
                return
        self.position = last

    def _queue(self, pipe: Any, writes: RedisWrites) -> None:
        for (key, name), amount in writes.increments.items():
            if amount:
                pipe.hincrby(self.prefix + key, name, amount)
        for (key, name), value in writes.hash_values.items():
            if value is None:
                pipe.hdel(self.prefix + key, name)
            else:
                pipe.hset(self.prefix + key, name, value)
        for key, value in writes.values.items():
            if value is None:
                pipe.delete(self.prefix + key)
            else:
                pipe.set(self.prefix + key, value)
