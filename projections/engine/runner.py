"""Runs projections: follows the event log and applies it in batches, exactly once.

Each PostgreSQL read model lives in a schema of its own per build (a generation:
`rm_<name>_g<n>`), and views in `public` with the tables' names point at the live
generation. Readers query the views; a runner writes into its generation's schema.
A rebuild fills a new generation beside the live one and switches the views over in one
transaction (see `rebuild.py`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from timetracker.projections.base import Projection
from timetracker.projections.engine import tracking
from timetracker.projections.engine.leadership import Leadership
from timetracker.projections.engine.log_reader import LogReader, Stretch
from timetracker.projections.engine.outage import Outage, is_unavailability

log = logging.getLogger(__name__)

BATCH_SIZE = 500
REBUILD_BATCH_SIZE = 5000  # a rebuild has no reader waiting on each batch: bigger is cheaper
IDLE_POLL_SECONDS = 1.0
# While writes keep coming, a runner starts a catch-up at most this often (see `run`).
GATHER_SECONDS = 0.025
LEADER_RETRY_SECONDS = 1.0
SCHEMA_LOCK_KEY = 7_410_001  # advisory lock: one process at a time creates tables


def generation_schema(name: str, generation: int) -> str:
    """The schema holding one generation of a PostgreSQL read model."""
    return f"rm_{name}_g{generation}"


def create_tables(cursor: psycopg.Cursor[Any], projection: Projection, schema: str) -> None:
    """Create a projection's tables in `schema` (idempotent)."""
    cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    cursor.execute(sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema)))
    for statement in projection.create_statements():
        added = _ADDED_COLUMN.match(statement)
        if added and _has_column(cursor, schema, added["table"], added["column"]):
            # ALTER TABLE takes an ACCESS EXCLUSIVE lock even when the column is there:
            # at every CLI command's start it would wait for, and then hold up, every read.
            continue
        index = _INDEX.match(statement)
        if index and _has_relation(cursor, schema, index["index"]):
            # CREATE INDEX takes a SHARE lock on its table even when the index is there:
            # one a table after another, beside a runner's batch writing them in another
            # order, that deadlocked (an import's dry run during an import job: a 503).
            continue
        cursor.execute(statement)  # type: ignore[arg-type]
    cursor.execute("SET LOCAL search_path TO public")


_ADDED_COLUMN = re.compile(
    r"^\s*ALTER TABLE (?P<table>\w+) ADD COLUMN IF NOT EXISTS (?P<column>\w+)\b", re.IGNORECASE
)


_INDEX = re.compile(r"^\s*CREATE (?:UNIQUE )?INDEX IF NOT EXISTS (?P<index>\w+)\b", re.IGNORECASE)


def _has_relation(cursor: psycopg.Cursor[Any], schema: str, name: str) -> bool:
    cursor.execute("SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))", (schema, name))
    row = cursor.fetchone()
    return row is not None and row[0] is not None


def _has_column(cursor: psycopg.Cursor[Any], schema: str, table: str, column: str) -> bool:
    cursor.execute(
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        (schema, table, column),
    )
    return cursor.fetchone() is not None


def point_views(cursor: psycopg.Cursor[Any], projection: Projection, schema: str) -> None:
    """Make `public.<table>` show the tables of `schema`."""
    for table in projection.tables:
        cursor.execute(
            sql.SQL("CREATE OR REPLACE VIEW public.{} AS SELECT * FROM {}.{}").format(
                sql.Identifier(table), sql.Identifier(schema), sql.Identifier(table)
            )
        )


def views_point_at(cursor: psycopg.Cursor[Any], projection: Projection, schema: str) -> bool:
    """Whether every `public.<table>` is already the view of `schema`'s table."""
    for table in projection.tables:
        cursor.execute(
            "SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid"
            " WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass"
            " AND r.ev_class = to_regclass(%s) AND d.refobjid = to_regclass(%s)",
            (f"public.{_quoted(table)}", f"{_quoted(schema)}.{_quoted(table)}"),
        )
        if cursor.fetchone() is None:
            return False
    return True


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_schema(conninfo: str, projections: Sequence[Projection]) -> None:
    """Create the tracking table and every projection's live tables and views (idempotent)."""
    with psycopg.connect(conninfo) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        cursor.execute(tracking.CREATE_TRACKING_TABLE)
        tracking.create_positions_trigger(cursor)
        for projection in projections:
            row = tracking.read_row(cursor, projection.name)
            schema = row[1] if row and row[1] else generation_schema(projection.name, 1)
            create_tables(cursor, projection, schema)
            # Only where needed: replacing a view takes an ACCESS EXCLUSIVE lock on it, and
            # done for every view in one transaction (at every CLI command's start) it
            # deadlocked with a read that joins two of them (a 503 during a rebuild).
            if not views_point_at(cursor, projection, schema):
                point_views(cursor, projection, schema)
            tracking.register(cursor, projection.name, schema)


def runner_connection(conninfo: str) -> psycopg.Connection[Any]:
    """A connection for applying batches to PostgreSQL read models.

    Autocommit: reading a position is one statement, not BEGIN/SELECT/COMMIT; a batch
    still runs in an explicit transaction. And no waiting for the WAL flush: a read model
    is derived data (one fsync per batch otherwise). A batch and its tracking position
    still commit atomically and in order; if PostgreSQL itself crashes before flushing,
    both go back together and the batch is applied again from the durable event log.
    No JIT: a batch's statements are short, but the planner's guesses for their arrays and
    new tables can pass `jit_above_cost`, and compiling then costs more than running (the
    day sums' upsert of a 1,000-entry batch: 0.74 s compiling, 0.02 s running; measured).
    """
    conn = psycopg.connect(conninfo, autocommit=True)
    conn.execute("SET synchronous_commit TO off")
    conn.execute("SET jit TO off")
    return conn


class LogFollower(ABC):
    """Reads the event log from a projection's position, `BATCH_SIZE` events at a time
    (through `reader`: the store's log by default, a shared or read-ahead one in a rebuild).

    Subclasses apply one batch atomically together with the new position, and refuse a
    batch when the stored position is not the one they read from (another runner moved
    on), so an event is never applied twice. `run` follows the log only while this
    runner leads its projection (a PostgreSQL advisory lock), so that across processes
    one runner works and the others stand by to take over (see `leadership.py`).
    """

    name: str

    def __init__(
        self,
        store: Application[Any],
        leadership: Leadership | None = None,
        reader: LogReader | None = None,
    ) -> None:
        self.store = store
        self.reader = reader or LogReader(store)
        self.position = 0
        self.batch_size = BATCH_SIZE
        self.wake = threading.Event()
        self.leadership = leadership
        # Told (name, position) after each batch this runner commits: lets readers waiting
        # in this process for a position wake at once instead of at their next poll.
        self.on_advance: Callable[[str, int], None] | None = None

    @abstractmethod
    def stored_position(self) -> int:
        """The position recorded with the read model."""

    @abstractmethod
    def _apply(self, stretch: Stretch) -> None:
        """Apply a batch and record its last position, atomically."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def lead(self) -> bool:
        """True while this runner may work (always, without a shared leadership)."""
        return self.leadership is None or self.leadership.lead(self.lead_name)

    @property
    def lead_name(self) -> str:
        """What this runner's lead is named after: its read model."""
        return self.name

    def _report_advance(self, before: int) -> None:
        """Tell `on_advance` where the batch just applied has moved the read model."""
        if self.on_advance is not None and self.position > before:
            self.on_advance(self.name, self.position)

    def caught_up(self) -> None:  # noqa: B027 - a hook; most runners need nothing here
        """Called after a catch-up that reached the end of the log."""

    def catch_up(self, stop_at: int | None = None) -> int:
        """Apply every event recorded so far (up to `stop_at`); returns how many were read."""
        self.position = self.stored_position()
        done = 0
        while stop_at is None or self.position < stop_at:
            stretch = self.reader.read(self.position, self.batch_size, stop_at)
            if not stretch.positions:
                break
            before = self.position
            self._apply(stretch)
            done += len(stretch.positions)
            self._report_advance(before)
            if stretch.to_end and self.position == stretch.last:
                break  # what comes next wakes `run` (the store's NOTIFY): no empty read
        self.caught_up()
        return done

    def run(self, stop: threading.Event) -> None:
        """While leading, catch up and follow the log until `stop` is set."""
        while not stop.is_set():
            if not self.lead():
                stop.wait(LEADER_RETRY_SECONDS)
                continue
            self.wake.clear()
            started = time.monotonic()
            try:
                self.catch_up()
            except Exception as exc:  # noqa: BLE001 - logged (traceback once) and retried
                # Logged once (a fault with its traceback), then summarised: not every second.
                delay = self.outage.failed(exc, traceback=not is_unavailability(exc))
                self.close()
                drop_broken_connections(self.store)
                self._back_off(stop, delay)
                continue
            self.outage.succeeded()
            if self.wake.is_set():
                # Events came while this catch-up ran: the log is busy. Let more gather,
                # to apply them in one transaction rather than one each. (A client that
                # waits for this read model before writing again never finds it busy.)
                stop.wait(GATHER_SECONDS - (time.monotonic() - started))
            self.wake.wait(self.idle_seconds())

    def _back_off(self, stop: threading.Event, delay: float) -> None:
        """Wait before retrying a failed catch-up: `delay` at most, but no longer than a
        second once news came (the listener reconnected, so the database is back, or events
        were written). Without this, the first write after an outage could wait out the whole
        backoff (5 s) for its read model, past the read-your-writes timeout. At least a second
        between attempts, so that news during a Redis outage never makes a busy retry loop.
        """
        at_least = min(delay, IDLE_POLL_SECONDS)
        if stop.wait(at_least):
            return
        self.wake.wait(delay - at_least)

    @property
    def outage(self) -> Outage:
        """This runner's failures in a row, and their logging (`outage.py`)."""
        outage: Outage | None = self.__dict__.get("_outage")
        if outage is None:
            outage = self.__dict__["_outage"] = Outage(
                f"Projection {self.name}", log, first_delay=IDLE_POLL_SECONDS
            )
        return outage

    def idle_seconds(self) -> float:
        """How long to wait for news of events before looking at the log again."""
        return IDLE_POLL_SECONDS


def drop_broken_connections(store: Application[Any]) -> None:
    """Check the idle connections of the store's pool now and replace the broken ones.

    After the database dropped its connections (a restart), psycopg_pool finds them one at
    a time, at checkout, waiting 1, 2, 4 s between: a runner would fail once per broken
    connection, a command wait for seconds. Best effort: a database still away fails it.
    """
    recorder = store.recorder
    if isinstance(recorder, PostgresApplicationRecorder):
        try:
            recorder.datastore.pool.check()
        except Exception:  # the next attempt will tell
            log.warning("Could not check the event store's connections", exc_info=True)


class ProjectionRunner(LogFollower):
    """Applies the log to one PostgreSQL projection on its own, 500 events per transaction:
    a rebuild, a verify, a replay. (The live read models run together: `group_runner.py`.)

    `tracking_name` is the projection's own name for the live read model; a rebuild
    runs a second runner under another tracking name into a new generation's schema.
    """

    def __init__(
        self,
        store: Application[Any],
        projection: Projection,
        conninfo: str,
        tracking_name: str | None = None,
        reader: LogReader | None = None,
    ) -> None:
        super().__init__(store, reader=reader)
        self.projection = projection
        self.name = tracking_name or projection.name
        self.conninfo = conninfo
        self.schema: str | None = None
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = runner_connection(self.conninfo)
        return self._conn

    def close(self) -> None:
        """Close the runner's database connection."""
        if self._conn is not None:
            self._conn.close()

    def stored_position(self) -> int:
        with self._connection().cursor() as cursor:
            row = tracking.read_row(cursor, self.name)
        if row is None:
            return 0
        self.schema = row[1]
        return row[0]

    def _apply(self, stretch: Stretch) -> None:
        conn = self._connection()
        with conn.transaction(), conn.cursor() as cursor:
            stored, schema = tracking.lock_row(cursor, self.name)
            if stored != self.position or schema != self.schema:
                # Another runner moved on, or a rebuild switched generations: pick up there.
                self.position, self.schema = stored, schema
                return
            if schema is not None:
                cursor.execute(
                    sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema))
                )
            self.projection.apply_batch(cursor, stretch.events, stretch.positions)
            tracking.move_position(cursor, self.name, stretch.last)
        self.position = stretch.last


def catch_up_each(
    store: Application[Any], projections: Sequence[Projection], conninfo: str
) -> None:
    """Bring each projection up to the head of the log with a runner of its own (beside
    or instead of the live runners: a command line write, a test)."""
    for projection in projections:
        runner = ProjectionRunner(store, projection, conninfo)
        try:
            runner.catch_up()
        finally:
            runner.close()
