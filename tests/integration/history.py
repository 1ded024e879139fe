"""Build a large history quickly: many aggregates saved per transaction, as bulk loads do."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from eventsourcing.domain import Aggregate
from psycopg import sql

from timetracker.commands.application import TimeTracking
from timetracker.domain.api_token import ApiToken, token_digest
from timetracker.domain.client import Client
from timetracker.domain.name_claim import NameClaim
from timetracker.domain.project import Project
from timetracker.domain.user import User
from timetracker.domain.values import Stamp
from timetracker.projections.base import Projection
from timetracker.projections.engine import rebuild

T0 = datetime(2024, 2, 1, 9, 0, tzinfo=UTC)
AGGREGATES_PER_SAVE = 100


def stamp(i: int) -> Stamp:
    return Stamp(at=T0 + timedelta(seconds=i), user_id=1, request_id=f"bulk-{i}")


def save_in_chunks(store: TimeTracking, aggregates: Sequence[Aggregate]) -> None:
    for start in range(0, len(aggregates), AGGREGATES_PER_SAVE):
        store.save(*aggregates[start : start + AGGREGATES_PER_SAVE])


def build_catalogue(store: TimeTracking, projects: int, clients: int = 20, users: int = 10) -> int:
    """Users with tokens, clients and projects, each changed a few times; returns events."""
    made: list[Aggregate] = []
    for n in range(1, users + 1):
        made.append(User.register(n, f"user{n}", None, None, "user", stamp(n)))
        made.append(NameClaim.take("user", f"user{n}", n, stamp(n)))
        token = ApiToken.issue(
            n, n, "bulk", token_digest(f"tt_secret{n}"), f"tt_s{n:04d}", ["read:*"], None, stamp(n)
        )
        if n % 2:
            token.revoke(stamp(n + 1))
        made.append(token)
    for n in range(1, clients + 1):
        client = Client.create(n, {"name": f"Client {n}"}, stamp(n))
        client.update({"email": f"c{n}@example.test"}, stamp(n + 1))
        if n % 4 == 0:
            client.archive(stamp(n + 2))
        made.append(client)
    for n in range(1, projects + 1):
        project = Project.create(
            n,
            {"name": f"Project {n}", "client_id": n % clients + 1, "hourly_rate": Decimal(n)},
            stamp(n),
        )
        project.update({"estimated_hours": Decimal(n) / 4, "billable": n % 2 == 0}, stamp(n + 1))
        if n % 3 == 0:
            project.update({"name": f"Project {n} (old)", "status": "archived"}, stamp(n + 2))
        if n % 9 == 0:
            project.update({"status": "on_hold"}, stamp(n + 3))
        made.append(project)
    count = sum(len(a.pending_events) for a in made)
    save_in_chunks(store, made)
    return count


def build_projects(store: TimeTracking, projects: int, updates: int, first: int = 1) -> int:
    """`projects` projects (numbered from `first`) with `updates` updates each; returns the
    number of events."""
    made: list[Aggregate] = []
    for n in range(first, first + projects):
        project = Project.create(n, {"name": f"Project {n}"}, stamp(n))
        for u in range(updates):
            project.update({"description": f"revision {u}"}, stamp(n + u + 1))
        made.append(project)
    save_in_chunks(store, made)
    return projects * (1 + updates)


def dump(conninfo: str, projections: Sequence[Projection]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, in primary-key order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(conninfo) as conn:
        for projection in projections:
            for table in projection.tables:
                query = sql.SQL("SELECT * FROM {} ORDER BY 1, 2").format(sql.Identifier(table))
                tables[table] = conn.execute(query).fetchall()
    return tables


def positions(conninfo: str) -> dict[str, int]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT name, position FROM projection_tracking").fetchall()
    return {name: position for name, position in rows}


def reset(conninfo: str, projections: Sequence[Projection]) -> None:
    """Empty the read models and move their tracking back to 0, in one transaction."""
    rebuild.reset(conninfo, list(projections))
