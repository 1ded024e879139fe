"""Where every read model stands: position, store head, lag in events and seconds, state."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis
from eventsourcing.application import Application

from timetracker.projections.engine.group_runner import GROUP_LEAD
from timetracker.projections.engine.leadership import LEADER_LOCK_KEY
from timetracker.projections.engine.rebuild import rebuild_name
from timetracker.projections.redis_keys import live_key, tracking_key
from timetracker.projections.registry import all_projections, redis_projections


@dataclass(frozen=True)
class ProjectionState:
    """One read model's standing."""

    name: str
    store: str  # "postgres" or "redis"
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    state: str  # running | stopped | rebuilding | unavailable

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lag_seconds(store: Application[Any], position: int, head: int) -> float:
    """How long the first event the read model has not applied has been waiting."""
    if position >= head:
        return 0.0
    pending = store.recorder.select_notifications(start=position, limit=1, inclusive_of_start=False)
    if not pending:
        return 0.0
    event: Any = store.mapper.to_domain_event(pending[0])
    waited: float = (datetime.now(UTC) - event.timestamp).total_seconds()
    return max(waited, 0.0)


def _leaders(conn: psycopg.Connection[Any], names: list[str]) -> set[str]:
    rows = conn.execute(
        "SELECT n FROM unnest(%s::text[]) AS n WHERE EXISTS (SELECT 1 FROM pg_locks"
        " WHERE locktype = 'advisory' AND granted AND classid = %s::oid"
        " AND objid = hashtext(n)::oid AND objsubid = 2)",
        (names, LEADER_LOCK_KEY),
    ).fetchall()
    return {str(row[0]) for row in rows}


def projection_status(
    store: Application[Any], conninfo: str, redis_url: str | None, prefix: str
) -> list[ProjectionState]:
    """The standing of every read model, PostgreSQL and Redis."""
    head = store.recorder.max_notification_id() or 0
    postgres = [p.name for p in all_projections()]
    in_redis = [p.name for p in redis_projections()]
    with psycopg.connect(conninfo) as conn:
        tracked = {
            str(name): int(position)
            for name, position in conn.execute(
                "SELECT name, position FROM projection_tracking"
            ).fetchall()
        }
        leaders = _leaders(conn, [GROUP_LEAD] + [prefix + name for name in in_redis])
    states: list[ProjectionState] = []
    for name in postgres:
        position = tracked.get(name, 0)
        if rebuild_name(name) in tracked:
            state = "rebuilding"
        else:
            state = "running" if GROUP_LEAD in leaders else "stopped"
        states.append(_state(store, name, "postgres", position, head, state))
    if redis_url is None:
        return states
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        for name in in_redis:
            live = client.get(live_key(prefix, name))
            if live is None:
                states.append(_state(store, name, "redis", 0, head, "unavailable"))
                continue
            position = int(client.get(tracking_key(prefix, name, int(live))) or 0)
            state = "running" if prefix + name in leaders else "stopped"
            states.append(_state(store, name, "redis", position, head, state))
    except redis.RedisError:
        states += [_state(store, n, "redis", 0, head, "unavailable") for n in in_redis]
    finally:
        client.close()
    return states


def _state(
    store: Application[Any], name: str, kind: str, position: int, head: int, state: str
) -> ProjectionState:
    return ProjectionState(
        name=name,
        store=kind,
        position=position,
        head=head,
        lag_events=max(head - position, 0),
        lag_seconds=round(_lag_seconds(store, position, head), 3),
        state=state,
    )
