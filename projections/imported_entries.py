"""The imported-entries read model: which entries came from which import, by external key.

An import looks its file's keys up here, so importing the same file again creates nothing
new. A row stays when its entry is deleted: an entry deleted on purpose is not brought back
by the next import of the same file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from eventsourcing.domain import DomainEventProtocol
from psycopg import Cursor

from timetracker.domain.entry import Entry
from timetracker.projections.base import Projection


class ImportedEntriesProjection(Projection):
    """Keeps `imported_entries` (source, external_key -> entry id) from EntryCreated events."""

    name = "imported_entries"
    tables = ("imported_entries",)

    def create_statements(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS imported_entries (
                source text NOT NULL,
                external_key text NOT NULL,
                entry_id integer NOT NULL,
                PRIMARY KEY (source, external_key)
            )
            """
        ]

    @staticmethod
    def row_of(event: DomainEventProtocol[Any]) -> tuple[str, str, int] | None:
        """The row an event adds (the pure part): an imported entry's creation only."""
        if isinstance(event, Entry.Created) and event.external_key is not None:
            return (event.source, event.external_key, event.number)
        return None

    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        self.apply_batch(cursor, [event], [])

    def apply_batch(
        self,
        cursor: Cursor[Any],
        events: Sequence[DomainEventProtocol[Any]],
        positions: Sequence[int],
    ) -> None:
        """The batch's rows in one statement (an import's batch is a thousand of them)."""
        rows = [row for event in events if (row := self.row_of(event)) is not None]
        if rows:
            # Not a plain insert: two imports of one file running at once (the command line
            # beside the server) may both record a key, and the second must not stop the
            # runner; the first entry keeps the key (rows go in in log order).
            cursor.execute(
                "INSERT INTO imported_entries (source, external_key, entry_id)"
                " SELECT * FROM unnest(%b::text[], %b::text[], %b::int[])"
                " ON CONFLICT DO NOTHING",
                [list(column) for column in zip(*rows, strict=True)],
            )


def imported_keys(conninfo: str, source: str, keys: Iterable[str]) -> set[str]:
    """Those of `keys` already imported from `source`."""
    wanted = list(keys)
    if not wanted:
        return set()
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT external_key FROM imported_entries"
            " WHERE source = %s AND external_key = ANY(%s)",
            (source, wanted),
        ).fetchall()
    return {row[0] for row in rows}
