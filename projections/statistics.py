"""The planner's statistics of a table that a read model fills fast (a rebuild, a replay, a
large import), kept in step by the writer itself.

A rebuild or a replay starts from empty tables and fills them in large transactions;
autovacuum analyzes them only now and then, and without statistics the planner can pick an
index that matches a recompute's keys only in part: the day sums' recompute of a 5,000-event
batch took 5-6 s instead of 0.05 s at 580,000 events into a replay (measured), so a replay
of a million events took many minutes. `TableStatistics.grew` runs `ANALYZE` each time the
table has about doubled since its last statistics (a handful of times in a whole rebuild,
each a bounded sample); a live read model's table grows far too slowly to trigger it.
"""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

MIN_ROWS = 1000  # below this the planner's guesses do no harm


class TableStatistics:
    """Counts the rows a writer adds to `table` and analyzes it when they reach its size."""

    def __init__(self, table: str, minimum: int = MIN_ROWS) -> None:
        self.table = table
        self.minimum = minimum
        self._known: int | None = None  # rows the last statistics saw (pg_class.reltuples)
        self._added = 0  # rows added since

    def grew(self, cursor: Cursor[Any], rows: int) -> bool:
        """Record `rows` more rows (about), analyzing the table if that makes it twice the
        size its statistics say; True if it was analyzed."""
        if self._known is None:
            cursor.execute(
                "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                (self.table,),
            )
            found = cursor.fetchone()
            self._known = 0 if found is None else int(_first(found))
        self._added += rows
        if self._added < max(self.minimum, self._known):
            return False
        cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(self.table)))
        self._known += self._added
        self._added = 0
        return True


def _first(row: Any) -> Any:
    """The first value of a row, whatever the cursor's row factory."""
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
