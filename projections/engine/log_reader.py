"""Reading the event log for projection runners: stretches of decoded events with positions.

One query per stretch with binary tuple rows (the library's `select_notifications` builds
a dict per row: a third of the reading cost), decoded by the store's mapper. `ReadAhead`
reads the next stretch in a thread while the current one is applied, so the runner's
work and the database's overlap (a rebuild, a verify).
"""

from __future__ import annotations

import bisect
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification
from psycopg import sql
from psycopg.rows import tuple_row


@dataclass(frozen=True)
class Share:
    """Share `index` of `count`: the aggregates whose UUID's last byte % count == index."""

    index: int
    count: int

    @property
    def label(self) -> str:
        """`p<index>of<count>`: names the share's tracking row or key."""
        return f"p{self.index}of{self.count}"


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stretch:
    """The events after position `after`, in log order, with their positions."""

    after: int
    positions: list[int]
    events: list[DomainEventProtocol[Any]]
    # True when the log held nothing after this stretch at the moment it was read: a runner
    # following the log need not read again until woken (False when not known).
    to_end: bool = False

    @property
    def last(self) -> int:
        """The position of the last event (`after` when there is none)."""
        return self.positions[-1] if self.positions else self.after

    def part(self, after: int, limit: int, stop: int | None) -> Stretch:
        """The events after `after` (at most `limit`, up to and including `stop`)."""
        first = bisect.bisect_right(self.positions, after)
        end = min(first + limit, len(self.positions))
        if stop is not None:
            end = min(end, bisect.bisect_right(self.positions, stop))
        end = max(end, first)
        return Stretch(after, self.positions[first:end], self.events[first:end])


class LogReader:
    """Reads stretches of one store's event log (only one share of the aggregates' events,
    given a `share`: see `partitions.py`)."""

    def __init__(self, store: Application[Any], share: Share | None = None) -> None:
        self.store = store
        self.share = share
        recorder: Any = store.recorder
        self._datastore = recorder.datastore
        table = sql.Identifier(*recorder.events_table_name.split("."))
        in_share: sql.Composable = sql.SQL("")
        if share is not None:
            in_share = sql.SQL(" AND get_byte(uuid_send(originator_id), 15) %% {} = {}").format(
                sql.Literal(share.count), sql.Literal(share.index)
            )
        self._query = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {} WHERE notification_id > %s AND notification_id <= %s{}"
            " ORDER BY notification_id LIMIT %s"
        ).format(table, in_share)

    def read(self, after: int, limit: int, stop: int | None = None) -> Stretch:
        """At most `limit` events after position `after` (up to and including `stop`)."""
        upto = stop if stop is not None else 2**63 - 1
        rows = self._rows(after, limit, upto)
        decode = self.store.mapper.to_domain_event
        return Stretch(
            after,
            [row[0] for row in rows],
            [
                decode(Notification(id=i, originator_id=o, originator_version=v, topic=t, state=s))
                for i, o, v, t, s in rows
            ],
            # A share reads window by window: fewer rows than asked proves nothing there.
            to_end=self.share is None and stop is None and len(rows) < limit,
        )

    def _rows(self, after: int, limit: int, upto: int) -> list[tuple[Any, ...]]:
        if self.share is None:
            return self._select(after, upto, limit)
        # A share's events are about 1/count of the log: read it window by window of about
        # `limit` of them. (Asked for all of the log after a position, PostgreSQL would
        # rather fetch and sort every row than filter its index scan.)
        head: int | None = None
        while True:
            window_end = min(upto, after + limit * self.share.count)
            rows = self._select(after, window_end, limit)
            if rows or window_end >= upto:
                return rows
            head = self.head() if head is None else head
            if window_end >= head:
                return rows
            after = window_end

    def _select(self, after: int, upto: int, limit: int) -> list[tuple[Any, ...]]:
        with (
            self._datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as cursor,
        ):
            cursor.execute(self._query, (after, upto, limit), prepare=True)
            rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows

    def head(self) -> int:
        """The position of the last event recorded (0 for an empty log)."""
        return self.store.recorder.max_notification_id() or 0

    def close(self) -> None:
        """Stop reading (nothing to release here)."""


class ReadAhead(LogReader):
    """A reader for one runner going forward through the log: while the runner applies a
    stretch, a thread reads and decodes the next one."""

    def __init__(self, store: Application[Any], share: Share | None = None) -> None:
        super().__init__(store, share)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="read-ahead")
        self._next: Future[Stretch] | None = None  # being read
        self._rest: Stretch | None = None  # read, not all served yet

    def read(self, after: int, limit: int, stop: int | None = None) -> Stretch:
        stretch = self._rest or self._ahead()
        self._next = self._rest = None
        if stretch is None or not stretch.after <= after < stretch.last:
            stretch = super().read(after, limit)
        served = stretch.part(after, limit, stop)
        if served.last < stretch.last:
            self._rest = stretch
        elif served.positions:
            self._next = self._thread.submit(super().read, served.last, limit)
        return served

    def _ahead(self) -> Stretch | None:
        """The stretch read ahead, if any (None if reading it failed: read it again now)."""
        if self._next is None:
            return None
        try:
            return self._next.result()
        except Exception:
            log.warning("Reading the log ahead failed; reading it again", exc_info=True)
            return None

    def close(self) -> None:
        """Stop the reading thread."""
        self._thread.shutdown(wait=True, cancel_futures=True)
