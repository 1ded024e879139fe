"""Reading the event log for projection runners: stretches of decoded events with positions.

One query per stretch with binary tuple rows (the library's `select_notifications` builds
a dict per row: a third of the reading cost), decoded by the store's mapper. `ReadAhead`
reads the next stretch in a thread while the current one is applied, so the runner's
work and the database's overlap (a rebuild, a verify).
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

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


class CatchesUp(Protocol):
    """A runner, as `SharedLog.apply_each` drives it (`runner.py::LogFollower`)."""

    def catch_up(self, stop_at: int | None = None) -> int:
        """Apply every event up to `stop_at`; how many were read."""
        ...


class SharedLog(LogReader):
    """Serves stretches of the log (or of a share of it), each read and decoded once, to
    several runners (and anything outside them from the store itself): a replay of every
    read model, a share of a partitioned build of several."""

    def __init__(self, store: Application[Any], share: Share | None = None) -> None:
        super().__init__(store, share)
        self._held: dict[int, Stretch] = {}  # by number, in log order
        self._lock = threading.Lock()

    def read(self, after: int, limit: int, stop: int | None = None) -> Stretch:
        with self._lock:
            held = list(self._held.values())
        for stretch in held:
            if stretch.after <= after < stretch.last:
                return stretch.part(after, limit, stop)
        return super().read(after, limit, stop)

    def fetch(self, after: int, limit: int, stop: int | None = None) -> Stretch:
        """The next stretch from the store (to be held next), whatever is held now."""
        return super().read(after, limit, stop)

    def apply_each(
        self,
        runners: Sequence[CatchesUp],
        stop_at: int,
        limit: int,
        on_stretch: Callable[[int], None] | None = None,
    ) -> int:
        """Bring every runner from 0 up to `stop_at`, a stretch of `limit` events at a time;
        returns the position all of them reached.

        This thread reads the stretches in order and holds them; each runner applies them
        in a thread of its own, at its own pace (while some wait for a database, others
        work, and a quick read model is not held back by a slow one), with at most
        `STRETCHES_AHEAD` stretches held beyond the slowest. `on_stretch` is told, in this
        thread, each position the slowest runner reaches.
        """
        follow = _Following(len(runners))
        with ThreadPoolExecutor(max(1, len(runners)), thread_name_prefix="shared-log") as threads:
            followers = [
                threads.submit(self._follow, runner, n, follow) for n, runner in enumerate(runners)
            ]
            try:
                self._read_ahead(stop_at, limit, follow, on_stretch)
            finally:
                with follow.changed:
                    follow.reading = False
                    follow.changed.notify_all()
            for follower in followers:
                follower.result()
        with self._lock:
            self._held.clear()
        return follow.slowest_position()

    def _read_ahead(
        self,
        stop_at: int,
        limit: int,
        follow: _Following,
        on_stretch: Callable[[int], None] | None,
    ) -> None:
        """Read stretches up to `stop_at` while the slowest runner is not too far behind,
        drop those every runner has applied, report the slowest runner's progress; return
        once every runner has applied every stretch read (or one has failed)."""
        position = reported = 0
        while True:
            with follow.changed:
                if not follow.failed and not follow.may_go_on(position, stop_at):
                    follow.changed.wait(PROGRESS_WAIT_SECONDS)
                if follow.failed:
                    return
                go_on = follow.may_go_on(position, stop_at)
                applied, reached = follow.slowest(), follow.slowest_position()
            with self._lock:
                for number in [n for n in self._held if n < applied]:
                    del self._held[number]
            if on_stretch is not None and reached > reported:
                on_stretch(reached)
                reported = reached
            if not go_on:
                continue
            if position >= stop_at:
                return
            stretch = self.fetch(position, limit, stop_at)
            if not stretch.positions:
                stop_at = position  # a share with no more events up to `stop_at`
                continue
            with follow.changed:
                with self._lock:
                    self._held[len(follow.lasts)] = stretch
                follow.lasts.append(stretch.last)
                follow.changed.notify_all()
            position = stretch.last

    @staticmethod
    def _follow(runner: CatchesUp, number: int, follow: _Following) -> None:
        """In a thread of its own: apply each stretch held, in order, as it comes."""
        try:
            while True:
                with follow.changed:
                    index = follow.done[number]
                    while index >= len(follow.lasts) and follow.reading and not follow.failed:
                        follow.changed.wait()
                    if follow.failed or index >= len(follow.lasts):
                        return
                    last = follow.lasts[index]
                runner.catch_up(last)
                with follow.changed:
                    follow.done[number] = index + 1
                    follow.changed.notify_all()
        except BaseException:
            with follow.changed:
                follow.failed = True
                follow.changed.notify_all()
            raise


STRETCHES_AHEAD = 4  # stretches read beyond the slowest runner's (each up to 5,000 events)
PROGRESS_WAIT_SECONDS = 0.5


class _Following:
    """What `SharedLog.apply_each` and its runner threads share, under `changed`."""

    def __init__(self, runners: int) -> None:
        self.changed = threading.Condition()
        self.lasts: list[int] = []  # the last position of each stretch read, in order
        self.done = [0] * runners  # per runner: how many stretches it has applied
        self.reading = True
        self.failed = False

    def slowest(self) -> int:
        """How many stretches every runner has applied."""
        return min(self.done, default=len(self.lasts))

    def slowest_position(self) -> int:
        """The position every runner has reached."""
        slowest = self.slowest()
        return self.lasts[slowest - 1] if slowest else 0

    def may_go_on(self, position: int, stop_at: int) -> bool:
        """Whether the reader, at `position`, may read the next stretch (or, at `stop_at`,
        whether every runner has caught up with it)."""
        if position >= stop_at:
            return self.slowest_position() >= position
        return len(self.lasts) - self.slowest() < STRETCHES_AHEAD
