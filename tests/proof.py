"""Checks of the event log and the read models shared by the load, crash and fault tests.

Each reads the real store: the log in position order, every stream's versions, and every
read model compared with a fresh replay (`projections.verify`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from eventsourcing.application import Application

from timetracker.domain.entry import Entry
from timetracker.domain.timer import Timer
from timetracker.projections.engine.verify import verify, verify_redis
from timetracker.projections.redis_keys import live_key, tracking_key
from timetracker.projections.registry import all_projections, redis_projections

PAGE = 5000


@dataclass(frozen=True)
class Logged:
    """One event of the log with its position."""

    position: int
    event: Any

    @property
    def request_id(self) -> str:
        return str(getattr(self.event, "request_id", ""))


def read_log(store: Application[Any]) -> list[Logged]:
    """Every event of the store, in position order."""
    logged: list[Logged] = []
    position = 0
    while True:
        page = store.recorder.select_notifications(
            start=position, limit=PAGE, inclusive_of_start=False
        )
        if not page:
            return logged
        logged += [Logged(n.id, store.mapper.to_domain_event(n)) for n in page]
        position = page[-1].id


def by_request(log: list[Logged]) -> dict[str, list[Logged]]:
    """The events each request id caused."""
    found: defaultdict[str, list[Logged]] = defaultdict(list)
    for item in log:
        found[item.request_id].append(item)
    return found


def kinds(events: list[Logged]) -> list[str]:
    """`Entry.Created`, `Timer.Started`... of each event, in log order."""
    return [type(e.event).__qualname__ for e in events]


def gapless_versions(conninfo: str) -> dict[str, Any]:
    """Streams whose versions are not exactly 1..n (empty when all are); and how many."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT originator_id, count(*), min(originator_version), max(originator_version),"
            " count(DISTINCT originator_version) FROM timetracking_events GROUP BY originator_id"
        ).fetchall()
    broken = {str(r[0]): r[1:] for r in rows if not (r[2] == 1 and r[3] == r[1] == r[4])}
    return {"streams": len(rows), "broken": broken}


def running_entries_by_position(log: list[Logged]) -> Iterator[tuple[int, dict[int, set[int]]]]:
    """Replays the entries in log order: after each position, each user's running entries.

    Independent of the Timer aggregate: an entry runs from its creation (or restore) without
    an end until an edit gives it one or it is deleted.
    """
    owner: dict[Any, tuple[int, int]] = {}
    running: defaultdict[int, set[int]] = defaultdict(set)
    for item in log:
        event = item.event
        if isinstance(event, Entry.Created | Entry.Restored):
            owner[event.originator_id] = (event.user_id, event.number)
            if event.fields["end_time"] is None:
                running[event.user_id].add(event.number)
        elif isinstance(event, Entry.Edited) and "end_time" in event.changes:
            user, number = owner[event.originator_id]
            if event.changes["end_time"]["to"] is None:
                running[user].add(number)
            else:
                running[user].discard(number)
        elif isinstance(event, Entry.Deleted):
            user, number = owner[event.originator_id]
            running[user].discard(number)
        yield item.position, running


def double_timers(log: list[Logged]) -> list[str]:
    """Every position at which some user had two running entries (empty: none)."""
    problems = []
    for position, running in running_entries_by_position(log):
        for user, entries in running.items():
            if len(entries) > 1:
                problems.append(f"position {position}: user {user} runs {sorted(entries)}")
    return problems


def timers_agree(log: list[Logged]) -> list[str]:
    """After the whole log, each user's Timer names exactly the entry that runs, if any."""
    timer_user: dict[Any, int] = {}
    timer_runs: dict[int, int | None] = {}
    for item in log:
        event = item.event
        if isinstance(event, Timer.Created):
            timer_user[event.originator_id] = event.user_id
        elif isinstance(event, Timer.Started):
            timer_runs[timer_user[event.originator_id]] = event.entry_id
        elif isinstance(event, Timer.Stopped):
            timer_runs[timer_user[event.originator_id]] = None
    *_, (_, running) = running_entries_by_position(log)
    problems = []
    for user in set(timer_runs) | set(running):
        expected = sorted(running.get(user, set()))
        timer = timer_runs.get(user)
        if expected != ([] if timer is None else [timer]):
            problems.append(f"user {user}: entries running {expected}, timer names {timer}")
    return problems


def head(conninfo: str) -> int:
    """The position of the last event."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM timetracking_events")
        value = row.fetchone()
    assert value is not None
    return int(value[0])


def positions(conninfo: str, redis_url: str, prefix: str) -> dict[str, int]:
    """Every read model's position (Redis ones: of their live generation, 0 when none)."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT name, position FROM projection_tracking").fetchall()
    found = {str(name): int(position) for name, position in rows}
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for projection in redis_projections():
            live = client.get(live_key(prefix, projection.name))
            tracked = (
                None
                if live is None
                else client.get(tracking_key(prefix, projection.name, int(live)))
            )
            found[projection.name] = int(tracked or 0)
    finally:
        client.close()
    names = {p.name for p in all_projections()} | {p.name for p in redis_projections()}
    return {name: found.get(name, 0) for name in sorted(names)}


def wait_caught_up(conninfo: str, redis_url: str, prefix: str, timeout: float) -> dict[str, int]:
    """Wait until every read model has applied the whole log; their positions."""
    deadline = time.monotonic() + timeout
    while True:
        last = head(conninfo)
        reached = positions(conninfo, redis_url, prefix)
        if all(p == last for p in reached.values()) or time.monotonic() > deadline:
            return reached
        time.sleep(0.05)


def verify_everything(
    store: Application[Any], conninfo: str, redis_url: str, prefix: str
) -> dict[str, list[str]]:
    """Every read model compared with a fresh replay: name -> mismatches (empty: equal)."""
    found = {p.name: verify(store, p, conninfo).mismatches for p in all_projections()}
    for projection in redis_projections():
        found[projection.name] = verify_redis(store, projection, redis_url, prefix).mismatches
    return found
