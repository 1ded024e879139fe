"""Public integer ids: one sequence per resource type."""

from __future__ import annotations

import itertools
import threading
from typing import Protocol

from eventsourcing.postgres import PostgresDatastore
from psycopg import sql

from timetracker.domain.kinds import KINDS as RESOURCE_KINDS

# The kinds numbered by a sequence of their own (`domain/kinds.py`).
KINDS = tuple(kind.name for kind in RESOURCE_KINDS if kind.numbered)


def sequence_name(kind: str) -> str:
    """The PostgreSQL sequence that numbers one resource type."""
    return f"timetracker_{kind}_id_seq"


class IdSequences(Protocol):
    """Hands out the next public id of a resource type."""

    def next_id(self, kind: str) -> int: ...

    def next_ids(self, kind: str, count: int) -> list[int]: ...


class MemoryIdSequences:
    """Ids for the in-memory store used by unit tests."""

    def __init__(self) -> None:
        self._counters = {kind: itertools.count(1) for kind in KINDS}
        self._lock = threading.Lock()

    def next_id(self, kind: str) -> int:
        with self._lock:
            return next(self._counters[kind])

    def next_ids(self, kind: str, count: int) -> list[int]:
        with self._lock:
            return [next(self._counters[kind]) for _ in range(count)]


class PostgresIdSequences:
    """Ids from PostgreSQL sequences; a failed write leaves a gap, never a duplicate."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore

    def create(self) -> None:
        """Create the sequences if they are missing."""
        with self._datastore.transaction(commit=True) as cursor:
            for kind in KINDS:
                cursor.execute(
                    sql.SQL("CREATE SEQUENCE IF NOT EXISTS {}").format(
                        sql.Identifier(sequence_name(kind))
                    )
                )

    def next_id(self, kind: str) -> int:
        # One statement on the pool's autocommit connection: one round trip, where a
        # transaction around it took three (BEGIN, the SELECT, COMMIT). nextval is never
        # rolled back anyway.
        with self._datastore.get_connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT nextval({}) AS id").format(sql.Literal(sequence_name(kind))),
                prepare=True,
            ).fetchone()
        assert row is not None
        return int(row["id"])

    def next_ids(self, kind: str, count: int) -> list[int]:
        """`count` new ids of one kind in one round trip (ascending)."""
        with self._datastore.get_connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT nextval({}) AS id FROM generate_series(1, %s)").format(
                    sql.Literal(sequence_name(kind))
                ),
                (count,),
            ).fetchall()
        return sorted(int(row["id"]) for row in rows)
