"""Runs Redis projections: batches of events folded in memory, written with MULTI/EXEC.

Each build of a Redis read model (a generation) keeps its keys under a prefix of its own,
`<prefix><name>:g<n>:`, with its log position beside them; `<prefix>live:<name>` names the
generation readers use. It is set only once a generation has caught up with the log, so
after Redis loses its data readers find no live generation and answer 503 until the
runner has rebuilt one, never wrong numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import redis
from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol

from timetracker.projections.base import RedisProjection, RedisReads, RedisWrites
from timetracker.projections.engine.leadership import Leadership
from timetracker.projections.engine.log_reader import LogReader, Stretch
from timetracker.projections.engine.runner import LogFollower
from timetracker.projections.redis_keys import (
    generation_prefix,
    live_key,
    positions_channel,
    tracking_key,
)


class RedisProjectionRunner(LogFollower):
    """Applies the log to one Redis projection, 500 events per MULTI/EXEC.

    Without a `generation` it maintains the live one (or builds the first). The position
    key is WATCHed while a batch is read and folded: if another runner moves it first,
    EXEC fails and this runner continues from the newer position.
    """

    def __init__(
        self,
        store: Application[Any],
        projection: RedisProjection,
        redis_url: str,
        prefix: str,
        leadership: Leadership | None = None,
        generation: int | None = None,
        reader: LogReader | None = None,
        share_label: str | None = None,
    ) -> None:
        super().__init__(store, leadership, reader)
        # A share of a partitioned build tracks its own position (see `partitions.py`).
        self.share_label = share_label
        self.projection = projection
        self.name = projection.name
        self.prefix = prefix
        self.follows_live = generation is None
        self.generation = generation or 1
        self.client = redis.Redis.from_url(redis_url, decode_responses=True)
        self._published = False  # this runner has seen its generation live

    def close(self) -> None:
        self.client.close()

    @property
    def lead_name(self) -> str:
        # A Redis read model is one per keyspace: runners on other prefixes lead their own.
        return f"{self.prefix}{self.name}"

    @property
    def _tracking_key(self) -> str:
        key = tracking_key(self.prefix, self.name, self.generation)
        return key if self.share_label is None else f"{key}:{self.share_label}"

    def _live_generation(self) -> int | None:
        value = self.client.get(live_key(self.prefix, self.name))
        return None if value is None else int(value)

    def stored_position(self) -> int:
        if self.follows_live:
            live = self._live_generation()
            self._published = live is not None  # none after a loss of Redis's data
            self.generation = live or self.generation
        return int(self.client.get(self._tracking_key) or 0)

    def caught_up(self) -> None:
        """Publish a first (or rebuilt-after-loss) generation once it has the whole log."""
        if self.follows_live and not self._published:
            self.client.set(live_key(self.prefix, self.name), self.generation, nx=True)
            self._published = True

    def _apply(self, stretch: Stretch) -> None:
        if self.follows_live and (live := self._live_generation()) not in (None, self.generation):
            self.generation = live  # a rebuild switched generations
            self.position = self.stored_position()
            return
        events = stretch.events
        last = stretch.last
        with self.client.pipeline() as pipe:
            try:
                # Watching the live pointer too: a batch never lands in a generation that a
                # rebuild has just replaced (and is about to delete).
                watched = [self._tracking_key]
                if self.follows_live:
                    watched.append(live_key(self.prefix, self.name))
                pipe.watch(*watched)  # type: ignore[no-untyped-call]
                stored = int(pipe.get(self._tracking_key) or 0)
                if stored != self.position:
                    self.position = stored
                    return
                data = generation_prefix(self.prefix, self.name, self.generation)
                current = _read(pipe, data, self.projection, events)
                writes = RedisWrites()
                self.projection.fold(events, current, writes)
                pipe.multi()
                _queue(pipe, data, writes)
                pipe.set(self._tracking_key, last)
                if self.follows_live:
                    pipe.publish(positions_channel(self.prefix), f"{self.name}:{last}")
                pipe.execute()
            except redis.WatchError:
                self.position = self.stored_position()
                return
        self.position = last


# Reads many hash fields in one call: KEYS are the hashes; ARGV holds pairs (index into
# KEYS, field). The reply has one value (or nil) per pair.
_READ_FIELDS = """
local values = {}
for i = 1, #ARGV, 2 do
  values[#values + 1] = redis.call('HGET', KEYS[tonumber(ARGV[i])], ARGV[i + 1])
end
return values
"""


def _read(
    pipe: Any, data: str, projection: RedisProjection, events: Sequence[DomainEventProtocol[Any]]
) -> RedisReads:
    """What the projection's fold needs: the fields, then the keys, each in one round trip
    if any (the pipe is WATCHing: its commands run at once)."""
    reads = RedisReads()
    pairs = projection.fields_to_read(events)
    if pairs:
        hashes: dict[str, int] = {}
        arguments: list[str | int] = []
        for key, name in pairs:
            arguments += [hashes.setdefault(data + key, len(hashes) + 1), name]
        values = pipe.eval(_READ_FIELDS, len(hashes), *hashes, *arguments)
        reads.hash_values = dict(zip(pairs, values, strict=True))
    keys = projection.keys_to_read(events, reads)
    if keys:
        reads.values = dict(zip(keys, pipe.mget([data + k for k in keys]), strict=True))
    return reads


# Adds many amounts to many hash fields in one command: KEYS are the hashes; ARGV[1] holds
# a line "index into KEYS<TAB>field<TAB>amount" for each. One call per batch instead of one
# per field, and one argument: a batch of an import adds to thousands of fields, and the
# client packs each argument in Python (three an increment made this a fifth of the read
# models' process, measured).
_INCREMENT_MANY = r"""
for i, field, amount in string.gmatch(ARGV[1], '(%d+)\t([^\t\n]+)\t(-?%d+)\n') do
  redis.call('HINCRBY', KEYS[tonumber(i)], field, amount)
end
return 0
"""


def _queue(pipe: Any, data: str, writes: RedisWrites) -> None:
    keys: dict[str, int] = {}
    lines: list[str] = []
    for (key, name), amount in writes.increments.items():
        if amount:
            index = keys.setdefault(data + key, len(keys) + 1)
            lines.append(f"{index}\t{name}\t{amount}\n")
    if lines:
        pipe.eval(_INCREMENT_MANY, len(keys), *keys, "".join(lines))
    # One HSET and one HDEL per hash, of all its fields.
    kept_fields: defaultdict[str, dict[str, str | bytes]] = defaultdict(dict)
    gone_fields: defaultdict[str, list[str]] = defaultdict(list)
    for (key, name), value in writes.hash_values.items():
        if value is None:
            gone_fields[data + key].append(name)
        else:
            kept_fields[data + key][name] = value
    for key, mapping in kept_fields.items():
        pipe.hset(key, mapping=mapping)
    for key, names in gone_fields.items():
        pipe.hdel(key, *names)
    kept = {data + k: v for k, v in writes.values.items() if v is not None}
    gone = [data + k for k, v in writes.values.items() if v is None]
    if kept:
        pipe.mset(kept)
    if gone:
        pipe.delete(*gone)
