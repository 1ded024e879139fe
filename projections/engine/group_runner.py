"""Runs every live PostgreSQL read model together: one log read and one transaction per batch.

Following the log one runner per read model costs, for each batch, a read of the log and a
transaction (lock the tracking row, apply, move it, commit) per read model: six of each for
one write. This runner reads a stretch once and applies it to every read model in one
transaction that locks their tracking rows, in name order, and moves them in one statement.

Exactly once, as with a runner per read model: each read model gets the events of the
stretch after its own locked position, and a read model whose position is behind the
stretch (a reset moved it back) is left for the next read, which starts from the lowest
position. A read model whose batch fails rests for `REST_SECONDS` while the others go on:
when a batch fails, the stretch is applied to each read model in a transaction of its own.
A read model whose tracking row another transaction holds (a verify comparing it, a reset)
is left out of the batch and tried again `BUSY_SECONDS` later: the others do not wait for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg import sql

from timetracker.projections.base import Projection
from timetracker.projections.engine import tracking
from timetracker.projections.engine.leadership import Leadership
from timetracker.projections.engine.log_reader import LogReader, Stretch
from timetracker.projections.engine.runner import IDLE_POLL_SECONDS, LogFollower, runner_connection

log = logging.getLogger(__name__)

REST_SECONDS = IDLE_POLL_SECONDS  # a failing read model is tried again this much later
BUSY_SECONDS = 0.2  # a read model whose row was held is tried again this much later
# What the runner's lead is named (one leader per database among every process running it).
GROUP_LEAD = "postgres read models"


class ProjectionGroupRunner(LogFollower):
    """Applies the log to several PostgreSQL projections (the live ones), batch by batch.

    `position` is the lowest position of the read models not resting: where the next
    read starts.
    """

    name = GROUP_LEAD

    def __init__(
        self,
        store: Application[Any],
        projections: Sequence[Projection],
        conninfo: str,
        leadership: Leadership | None = None,
        reader: LogReader | None = None,
    ) -> None:
        super().__init__(store, leadership, reader)
        self.projections = sorted(projections, key=lambda p: p.name)
        self.conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None
        self._resting: dict[str, float] = {}  # name -> when to try it again
        self._moved: list[tuple[str, int]] = []  # read models the last batch moved, and where

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = runner_connection(self.conninfo)
        return self._conn

    def close(self) -> None:
        """Close the runner's database connection."""
        if self._conn is not None:
            self._conn.close()

    def _working(self) -> list[Projection]:
        now = time.monotonic()
        self._resting = {name: due for name, due in self._resting.items() if due > now}
        return [p for p in self.projections if p.name not in self._resting]

    def idle_seconds(self) -> float:
        """Until the next resting read model is due, if sooner than the idle poll."""
        due = min(self._resting.values(), default=None)
        if due is None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(0.0, due - time.monotonic()))

    def stored_position(self) -> int:
        working = self._working()
        with self._connection().cursor() as cursor:
            positions = tracking.read_positions(cursor, [p.name for p in self.projections])
        if not working:  # all resting: nothing to read until one is tried again
            return max(positions.values(), default=0)
        return min(positions.get(p.name, 0) for p in working)

    def _apply(self, stretch: Stretch) -> None:
        self._moved = []
        working = self._working()
        try:
            self.position = self._apply_to(stretch, working)
            return
        except Exception:
            if len(working) <= 1:
                raise
            log.warning("A batch of the read models failed; applying it to each alone")
        # Each alone: the healthy ones go on, a failing one rests (`run` handles a batch
        # that fails for all, such as a database gone away).
        lowest: list[int] = []
        failures = 0
        for projection in working:
            try:
                lowest.append(self._apply_to(stretch, [projection]))
            except Exception:
                failures += 1
                log.exception("Projection %s failed; retrying", projection.name)
                self._resting[projection.name] = time.monotonic() + REST_SECONDS
                if failures == len(working):
                    raise
        self.position = min(lowest)

    def _apply_to(self, stretch: Stretch, projections: Sequence[Projection]) -> int:
        """Apply the stretch to `projections` in one transaction; returns their lowest
        position after it."""
        conn = self._connection()
        moved: list[str] = []
        positions: list[int] = []
        names = [p.name for p in projections]
        with conn.transaction(), conn.cursor() as cursor:
            rows = tracking.lock_rows(cursor, names, skip_locked=True)
            if not rows:  # every row held (or none registered): wait for them
                rows = tracking.lock_rows(cursor, names)
            self._rest_busy(cursor, [name for name in names if name not in rows])
            for projection in projections:
                if projection.name not in rows:
                    continue
                position, schema = rows[projection.name]
                if position < stretch.after or position >= stretch.last:
                    # Behind the stretch (moved back: the next read starts from it), or
                    # past it (nothing here to apply).
                    positions.append(position)
                    continue
                part = stretch.part(position, len(stretch.positions), None)
                if schema is not None:
                    cursor.execute(
                        sql.SQL("SET LOCAL search_path TO {}, public").format(
                            sql.Identifier(schema)
                        )
                    )
                projection.apply_batch(cursor, part.events, part.positions)
                moved.append(projection.name)
                positions.append(stretch.last)
            if moved:
                tracking.move_positions(cursor, moved, stretch.last)
        self._moved += [(name, stretch.last) for name in moved]
        return min(positions, default=stretch.last)

    def _rest_busy(self, cursor: psycopg.Cursor[Any], names: list[str]) -> None:
        """Rest the read models whose rows were left out because another transaction holds
        them; LookupError for one that is not registered at all."""
        if not names:
            return
        registered = tracking.read_positions(cursor, names)
        for name in names:
            if name not in registered:
                raise LookupError(f"Projection {name} is not registered.")
            self._resting[name] = time.monotonic() + BUSY_SECONDS

    def _report_advance(self, before: int) -> None:
        if self.on_advance is not None:
            for name, position in self._moved:
                self.on_advance(name, position)
