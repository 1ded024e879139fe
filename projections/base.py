"""What every read model provides to its runner: `Projection` (PostgreSQL) and
`RedisProjection` (Redis). The runners are in `engine/`; a read model needs only this module."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from psycopg import Cursor

from timetracker.projections.rows import RowChange, write_rows


class Projection(ABC):
    """A read model: its tables, and how one event changes them.

    `changes` is the pure part: one event as row changes (`rows.py`), no I/O. The runner
    calls `apply` for each event of a batch inside one transaction that also moves the
    projection's tracking position, so every event is applied exactly once; by default
    `apply` writes `changes(event)` with that transaction's cursor.

    A batch's arrays go to PostgreSQL as binary parameters with a cast (`%b::uuid[]`):
    psycopg formats a text array (`%s`) in Python, about ten times the cost per element.
    """

    name: str
    tables: tuple[str, ...]
    # True when each aggregate's events change only that aggregate's rows: a rebuild may
    # then apply shares of the aggregates in parallel processes (see `partitions.py`).
    partitionable = False

    @abstractmethod
    def create_statements(self) -> list[str]:
        """DDL that creates the tables and indexes if they are missing."""

    def changes(self, event: DomainEventProtocol[Any]) -> list[RowChange]:
        """What one event does to the tables (nothing for events of no interest)."""
        return []

    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        """Change the tables for one event; ignore events of no interest."""
        write_rows(cursor, self.changes(event))

    def apply_batch(
        self,
        cursor: Cursor[Any],
        events: Sequence[DomainEventProtocol[Any]],
        positions: Sequence[int],
    ) -> None:
        """Change the tables for a batch of events (at those log positions), in order, in one
        transaction."""
        for event in events:
            self.apply(cursor, event)


@dataclass
class RedisReads:
    """The current values a batch's fold asked for (None where there is none)."""

    values: dict[str, str | None] = field(default_factory=dict)
    hash_values: dict[tuple[str, str], str | None] = field(default_factory=dict)


@dataclass
class RedisWrites:
    """What one batch changes, written in one MULTI/EXEC with the new position."""

    increments: defaultdict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    hash_values: dict[tuple[str, str], str | bytes | None] = field(default_factory=dict)
    values: dict[str, str | bytes | None] = field(default_factory=dict)


class RedisProjection(ABC):
    """A read model in Redis: which keys a batch needs to read, and how it changes them.

    Keys are relative; the runner adds the generation's prefix.
    """

    name: str
    # True when an aggregate's events change only its own keys and add to shared sums:
    # a rebuild may then apply shares of the aggregates in parallel (see `partitions.py`).
    partitionable = False

    def fields_to_read(self, events: Sequence[DomainEventProtocol[Any]]) -> list[tuple[str, str]]:
        """(hash, field) pairs whose current values `fold` needs (none by default)."""
        return []

    def keys_to_read(
        self, events: Sequence[DomainEventProtocol[Any]], found: RedisReads
    ) -> list[str]:
        """Keys whose current values `fold` needs, given the fields read (none by default)."""
        return []

    @abstractmethod
    def fold(
        self,
        events: Sequence[DomainEventProtocol[Any]],
        current: RedisReads,
        writes: RedisWrites,
    ) -> None:
        """Turn a batch of events into writes; `current` holds what was asked for."""
