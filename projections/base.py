"""What every PostgreSQL read model provides to its runner."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from psycopg import Cursor


class Projection(ABC):
    """A read model: its tables, and how one event changes them.

    The runner calls `apply` for each event of a batch inside one transaction that also
    moves the projection's tracking position, so every event is applied exactly once.
    """

    name: str
    tables: tuple[str, ...]
    # True when each aggregate's events change only that aggregate's rows: a rebuild may
    # then apply shares of the aggregates in parallel processes (see `partitions.py`).
    partitionable = False

    @abstractmethod
    def create_statements(self) -> list[str]:
        """DDL that creates the tables and indexes if they are missing."""

    @abstractmethod
    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        """Change the tables for one event; ignore events of no interest."""

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
