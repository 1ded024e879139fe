"""Report rollups in Redis: seconds, billable seconds and entries per user, project and UTC day.

`/reports/summary` reads one hash per day of its window instead of scanning entries.
Each entry's current contribution is kept too, so an edit or a delete takes back exactly
what the entry had added: a field (the entry's id) of one of 256 hashes,
`rollup:entries:<last two hex digits of the id>`, rather than a key per entry, which
made a million keys to write and, after a rebuild, to find and drop.

Builds written before the buckets kept a key per entry (`rollup:entry:<id>`): an entry
found in no bucket is looked up there, and its old key is dropped once it moves into
its bucket. A rebuild leaves none of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson
from eventsourcing.domain import DomainEventProtocol
from redis.asyncio import Redis

from timetracker.domain.entry import Entry
from timetracker.projections.base import RedisProjection, RedisReads, RedisWrites
from timetracker.projections.redis_keys import (
    ReadModelUnavailableError,
    generations_stem,
    live_key,
)


def _entry_field(event: DomainEventProtocol[Any]) -> tuple[str, str]:
    """Where an entry's contribution is kept: (its bucket hash, its field)."""
    entry = event.originator_id.hex
    return f"rollup:entries:{entry[-2:]}", entry


def _legacy_entry_key(field: tuple[str, str]) -> str:
    """Where a build written before the buckets kept an entry's contribution."""
    return f"rollup:entry:{field[1]}"


def user_day_key(user_id: int, day: date | str) -> str:
    """The rollup hash of one user's day (a date, or its ISO form)."""
    return f"rollup:user:{user_id}:{day}"


def all_day_key(day: date | str) -> str:
    """The rollup hash of everyone's day (a date, or its ISO form)."""
    return f"rollup:all:{day}"


# A batch's changes to the rollups, summed per (user, ISO day, project) before they become
# hash fields: a batch touches far fewer of those than it has events.
_Sums = defaultdict[tuple[int, str, int], list[int]]


def _add(sums: _Sums, state: dict[str, Any], sign: int) -> None:
    """Add (sign 1) or take back (sign -1) an entry's contribution to its day."""
    seconds = state.get("seconds")
    if seconds is None or state.get("deleted"):
        return
    totals = sums[(state["user_id"], state["day"], state["project_id"])]
    totals[0] += sign * seconds
    totals[1] += sign * seconds if state["billable"] else 0
    totals[2] += sign


def _write_sums(sums: _Sums, writes: RedisWrites) -> None:
    increments = writes.increments
    for (user_id, day, project), (seconds, billable, entries) in sums.items():
        fields = (f"{project}:s", f"{project}:b", f"{project}:n")
        for key in (user_day_key(user_id, day), all_day_key(day)):
            increments[(key, fields[0])] += seconds
            increments[(key, fields[1])] += billable
            increments[(key, fields[2])] += entries


class ReportRollupsProjection(RedisProjection):
    """Keeps the per-day rollup hashes in step with Entry events."""

    name = "report_rollups"
    partitionable = True  # one row / one contribution per entry, sums that commute

    def fields_to_read(self, events: Sequence[DomainEventProtocol[Any]]) -> list[tuple[str, str]]:
        created = {e.originator_id for e in events if isinstance(e, Entry.Created)}
        return sorted(
            {
                _entry_field(e)
                for e in events
                if isinstance(e, Entry.Edited | Entry.Deleted) and e.originator_id not in created
            }
        )

    def keys_to_read(
        self, events: Sequence[DomainEventProtocol[Any]], found: RedisReads
    ) -> list[str]:
        # Only entries in no bucket: those of a build written before the buckets.
        return [_legacy_entry_key(field) for field, raw in found.hash_values.items() if raw is None]

    def fold(
        self,
        events: Sequence[DomainEventProtocol[Any]],
        current: RedisReads,
        writes: RedisWrites,
    ) -> None:
        states: dict[tuple[str, str], dict[str, Any] | None] = {}
        for field, raw in current.hash_values.items():
            legacy = current.values.get(_legacy_entry_key(field))  # read only if raw is None
            if legacy is not None:
                writes.values[_legacy_entry_key(field)] = None  # moves into its bucket
                raw = legacy
            states[field] = None if raw is None else orjson.loads(raw)
        sums: _Sums = defaultdict(lambda: [0, 0, 0])
        for event in events:
            if not isinstance(event, Entry.Created | Entry.Restored | Entry.Edited | Entry.Deleted):
                continue
            field = _entry_field(event)
            if isinstance(event, Entry.Created | Entry.Restored):
                fields = event.fields
                created = {
                    "user_id": event.user_id,
                    "project_id": fields["project_id"],
                    "day": fields["start_time"].date().isoformat(),
                    "seconds": _seconds(fields["start_time"], fields["end_time"]),
                    "billable": fields["billable"],
                }
                _add(sums, created, 1)
                state: dict[str, Any] | None = created
            elif isinstance(event, Entry.Edited):
                previous = states.get(field)
                if previous is None:
                    continue
                _add(sums, previous, -1)
                state = dict(previous)
                for name, change in event.changes.items():
                    if name == "start_time":
                        state["day"] = change["to"].date().isoformat()
                    elif name == "duration_seconds":
                        state["seconds"] = change["to"]
                    elif name in ("project_id", "billable"):
                        state[name] = change["to"]
                _add(sums, state, 1)
            elif isinstance(event, Entry.Deleted):
                state = states.get(field)
                if state is not None:
                    _add(sums, state, -1)
                state = None
            states[field] = state
            writes.hash_values[field] = None if state is None else orjson.dumps(state)
        _write_sums(sums, writes)


def _seconds(start: Any, end: Any) -> int | None:
    return None if end is None else int((end - start).total_seconds())


@dataclass(frozen=True)
class ProjectTotals:
    """One project's share of a report."""

    project_id: int
    seconds: int
    billable_seconds: int
    entries: int


# Sums the fields of many day hashes inside Redis: one round trip, and a reply of one
# (field, total) pair per project and kind instead of every field of every day (a year of
# everyone's days is ~20,000 fields to decode). It finds the live build itself and replies
# first with its version, `<generation>@<position>`; given the version a reader already
# has sums for, it replies with the version alone: nothing has changed since.
# KEYS[1]: the live pointer. ARGV[1]: the builds' key prefix up to the generation number;
# ARGV[2]: the version the reader holds ('' for none); ARGV[3...]: the day hashes, relative.
_SUM_DAYS = """
local generation = redis.call('GET', KEYS[1])
if not generation then
  return false
end
local data = ARGV[1] .. generation .. ':'
local version = generation .. '@' .. (redis.call('GET', data .. 'position') or '0')
if version == ARGV[2] then
  return {version}
end
local totals, order = {}, {}
for i = 3, #ARGV do
  local fields = redis.call('HGETALL', data .. ARGV[i])
  for j = 1, #fields, 2 do
    local name, value = fields[j], tonumber(fields[j + 1])
    if totals[name] == nil then
      order[#order + 1] = name
      totals[name] = value
    else
      totals[name] = totals[name] + value
    end
  end
end
local reply = {version}
for _, name in ipairs(order) do
  reply[#reply + 1] = name
  reply[#reply + 1] = totals[name]
end
return reply
"""
SUMS_KEPT = 512  # windows whose sums a process keeps (a dashboard asks for the same again)

# Per project: [seconds, billable seconds, entries].
_ProjectSums = dict[int, list[int]]


class ReportRollupsView:
    """Sums the rollups of a window of days, keeping the last sums of each window asked
    for with the build's version: asked again before the build has moved, Redis only
    confirms the version instead of summing the days again."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._sum_days = client.register_script(_SUM_DAYS)
        self._kept: dict[tuple[int | None, date, date], tuple[str, _ProjectSums]] = {}

    async def totals(
        self, first: date, last: date, user_id: int | None, project_id: int | None
    ) -> list[ProjectTotals]:
        """Per-project totals for the days `first`..`last` (inclusive)."""
        return (await self.totals_at(first, last, user_id, project_id))[1]

    async def totals_at(
        self, first: date, last: date, user_id: int | None, project_id: int | None
    ) -> tuple[int, list[ProjectTotals]]:
        """The totals, with the position of the rollups they were summed at (read with
        them, in the same script: no round trip of its own)."""
        version, sums = await self._sums(first, last, user_id)
        totals = [
            ProjectTotals(project, seconds, billable, entries)
            for project, (seconds, billable, entries) in sorted(sums.items())
            if entries and (project_id is None or project == project_id)
        ]
        return int(version.rpartition("@")[2]), totals

    async def _sums(self, first: date, last: date, user_id: int | None) -> tuple[str, _ProjectSums]:
        window = (user_id, first, last)
        kept_version, kept = self._kept.get(window, ("", {}))
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        name = ReportRollupsProjection.name
        reply = await self._sum_days(
            keys=[live_key(self.prefix, name)],
            args=[
                generations_stem(self.prefix, name),
                kept_version,
                *[all_day_key(d) if user_id is None else user_day_key(user_id, d) for d in days],
            ],
        )
        if reply is None:
            raise ReadModelUnavailableError(f"The {name} read model is being rebuilt.")
        version = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        if version == kept_version:
            return version, kept
        sums: _ProjectSums = {}
        for at in range(1, len(reply), 2):
            field, value = reply[at], reply[at + 1]
            field = field.decode() if isinstance(field, bytes) else field
            project, kind = field.split(":")
            sums.setdefault(int(project), [0, 0, 0])["sbn".index(kind)] += int(value)
        self._kept.pop(window, None)
        if len(self._kept) >= SUMS_KEPT:
            del self._kept[next(iter(self._kept))]  # the window asked for longest ago
        self._kept[window] = (version, sums)
        return version, sums
