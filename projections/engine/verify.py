"""Verify a read model: replay the log into a scratch copy and compare it with the live one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
from eventsourcing.application import Application
from psycopg import IsolationLevel, sql

from timetracker.projections.base import Projection, RedisProjection
from timetracker.projections.engine import tracking
from timetracker.projections.engine.rebuild import drop_redis_generation, generation_counter_key
from timetracker.projections.engine.redis_runner import RedisProjectionRunner
from timetracker.projections.engine.runner import (
    REBUILD_BATCH_SIZE,
    ProjectionRunner,
    create_tables,
)
from timetracker.projections.redis_keys import generation_prefix, live_key, tracking_key

Progress = Callable[[int, int], None]
MAX_LISTED = 10
REDIS_ATTEMPTS = 20
SNAPSHOT_ATTEMPTS = 20


@dataclass(frozen=True)
class Verified:
    """The outcome of comparing a read model with a fresh replay at the same position."""

    name: str
    position: int
    checksums: dict[str, tuple[str, str]]  # table or keyspace: (live, replayed)
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _table_checksum(cursor: psycopg.Cursor[Any], schema: str, table: str) -> str:
    cursor.execute(
        sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
            " FROM {} t"
        ).format(sql.Identifier(schema, table))
    )
    row = cursor.fetchone()
    assert row is not None
    return f"{row[0]} rows, md5 {row[1]}"


def _differences(cursor: psycopg.Cursor[Any], table: str, live: str, scratch: str) -> list[str]:
    found = []
    for label, first, second in (("only live", live, scratch), ("only replayed", scratch, live)):
        cursor.execute(
            sql.SQL("SELECT t::text FROM {} t EXCEPT SELECT t::text FROM {} t LIMIT %s").format(
                sql.Identifier(first, table), sql.Identifier(second, table)
            ),
            (MAX_LISTED,),
        )
        found += [f"{table}: {label}: {row[0]}" for row in cursor.fetchall()]
    return found


def _live_row(cursor: psycopg.Cursor[Any], name: str) -> tuple[int, str | None]:
    row = tracking.read_row(cursor, name)
    if row is None:
        raise LookupError(f"Projection {name} is not registered.")
    return row


def _compare(
    cursor: psycopg.Cursor[Any], projection: Projection, live_schema: str, scratch: str
) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """The checksum of each table, live and replayed, and the rows that differ."""
    checksums: dict[str, tuple[str, str]] = {}
    mismatches: list[str] = []
    for table in projection.tables:
        pair = (
            _table_checksum(cursor, live_schema, table),
            _table_checksum(cursor, scratch, table),
        )
        checksums[table] = pair
        if pair[0] != pair[1]:
            mismatches += _differences(cursor, table, live_schema, scratch)
    return checksums, mismatches


def verify(
    store: Application[Any],
    projection: Projection,
    conninfo: str,
    progress: Progress | None = None,
) -> Verified:
    """Replay into a scratch schema up to the live position and compare table by table.

    The live copy is compared as a snapshot (REPEATABLE READ) that shows it at the position
    the scratch copy has been brought to, so its runner goes on meanwhile. While the live
    copy keeps moving between the catch-up and the snapshot, that is tried again; after
    `SNAPSHOT_ATTEMPTS` its tracking row is locked for the comparison instead.
    """
    scratch, name = f"rm_{projection.name}_verify", f"{projection.name}:verify"
    with psycopg.connect(conninfo) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(scratch)))
        cursor.execute("DELETE FROM projection_tracking WHERE name = %s", (name,))
        create_tables(cursor, projection, scratch)
        tracking.register(cursor, name, scratch)
    runner = ProjectionRunner(store, projection, conninfo, tracking_name=name)
    runner.batch_size = REBUILD_BATCH_SIZE
    try:
        with psycopg.connect(conninfo) as conn:
            live_now = tracking.read_row(conn.cursor(), projection.name)
        runner.catch_up(stop_at=live_now[0] if live_now else 0)
        if progress is not None:
            progress(runner.position, runner.position)
        position = runner.position
        for attempt in range(SNAPSHOT_ATTEMPTS + 1):
            runner.catch_up(stop_at=position)
            locking = attempt == SNAPSHOT_ATTEMPTS
            with psycopg.connect(conninfo) as conn:
                if not locking:
                    conn.isolation_level = IsolationLevel.REPEATABLE_READ
                with conn.transaction(), conn.cursor() as cursor:
                    if locking:  # the live copy kept moving: hold it still (its runner waits)
                        position, live_schema = tracking.lock_row(cursor, projection.name)
                        runner.catch_up(stop_at=position)
                    else:  # the snapshot this transaction sees is taken by this read
                        position, live_schema = _live_row(cursor, projection.name)
                        if position > runner.position:
                            continue  # moved since the catch-up: catch up, look again
                    assert live_schema is not None
                    checksums, mismatches = _compare(cursor, projection, live_schema, scratch)
                    break
    finally:
        runner.close()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(scratch))
            )
            conn.execute("DELETE FROM projection_tracking WHERE name = %s", (name,))
    return Verified(projection.name, position, checksums, mismatches)


def _redis_dump(client: redis.Redis, data_prefix: str) -> dict[str, Any]:
    """Every key of a generation (but its position), by relative name, in canonical form."""
    dump: dict[str, Any] = {}
    for raw in client.scan_iter(match=f"{data_prefix}*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else raw
        relative = key[len(data_prefix) :]
        if relative == "position":
            continue
        kind = client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "hash":
            items = client.hgetall(key)
            dump[relative] = sorted((str(k), str(v)) for k, v in items.items())  # type: ignore[union-attr]
        else:
            dump[relative] = _canonical_value(client.get(key))
    return dump


def _canonical_value(raw: Any) -> Any:
    """A string key's value; a JSON one parsed, so that spacing written by an older version
    does not count as a difference."""
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _digest(dump: dict[str, Any]) -> str:
    canonical = json.dumps(dump, sort_keys=True, separators=(",", ":"))
    return f"{len(dump)} keys, sha256 {hashlib.sha256(canonical.encode()).hexdigest()}"


def verify_redis(
    store: Application[Any],
    projection: RedisProjection,
    redis_url: str,
    prefix: str,
    progress: Progress | None = None,
) -> Verified:
    """Replay into an unpublished scratch generation and compare key by key.

    Redis has no row lock to hold the live copy still: the comparison is retried until
    the live position did not move while both were read.
    """
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    scratch = int(client.incr(generation_counter_key(prefix, projection.name)))
    runner = RedisProjectionRunner(store, projection, redis_url, prefix, generation=scratch)
    runner.batch_size = REBUILD_BATCH_SIZE
    try:
        for _ in range(REDIS_ATTEMPTS):
            live = client.get(live_key(prefix, projection.name))
            if live is None:
                return Verified(projection.name, 0, {}, ["no live generation (rebuilding)"])
            live_tracking = tracking_key(prefix, projection.name, int(live))
            position = int(client.get(live_tracking) or 0)
            runner.catch_up(stop_at=position)
            if progress is not None:
                progress(runner.position, position)
            live_dump = _redis_dump(client, generation_prefix(prefix, projection.name, int(live)))
            replayed = _redis_dump(client, generation_prefix(prefix, projection.name, scratch))
            if int(client.get(live_tracking) or 0) != position or runner.position != position:
                continue
            mismatches = [
                f"{key}: live {live_dump.get(key)!r} != replayed {replayed.get(key)!r}"
                for key in sorted(set(live_dump) | set(replayed))
                if live_dump.get(key) != replayed.get(key)
            ][:MAX_LISTED]
            checksums = {projection.name: (_digest(live_dump), _digest(replayed))}
            return Verified(projection.name, position, checksums, mismatches)
        return Verified(projection.name, 0, {}, ["the live copy kept moving; try again"])
    finally:
        runner.close()
        drop_redis_generation(client, prefix, projection.name, scratch)
        client.close()
