"""A write transaction held open for seconds while many others commit: projections skip nothing.

The slow writer's event gets its position first; the others wait on the event store's table
lock (eventsourcing takes it on every append), so no later position becomes visible before an
earlier one, and a runner following the log never passes a position that is still filling.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg

from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import CreateProject
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.projections.engine.runner import create_schema
from timetracker.projections.engine.service import ProjectionService
from timetracker.projections.engine.verify import verify
from timetracker.projections.projects import ProjectsProjection

HOLD_SECONDS = 2.0
OTHERS = 40

SLOW_ONCE = """
CREATE TABLE slow_once (armed boolean);
INSERT INTO slow_once VALUES (true);
CREATE FUNCTION slow_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM slow_once WHERE armed) THEN
    UPDATE slow_once SET armed = false;
    PERFORM pg_sleep(%s);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER slow_once AFTER INSERT ON timetracking_events
  FOR EACH ROW EXECUTE FUNCTION slow_once();
"""


def _stamp() -> Stamp:
    return Stamp(at=datetime.now(UTC), user_id=None, request_id="t", is_admin=True)


def test_a_slow_writer_holds_back_the_log_and_the_projection_misses_nothing(
    settings: Settings,
) -> None:
    store = TimeTracking(settings.event_store_env())
    projection = ProjectsProjection()
    create_schema(settings.conninfo, [projection])
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        conn.execute(SLOW_ONCE.replace("%s", str(HOLD_SECONDS)))  # type: ignore[arg-type]
    service = ProjectionService(store, [projection], settings.conninfo)
    service.start()
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:  # what a reader of the log sees, again and again
        while not stop.is_set():
            rows = store.recorder.select_notifications(start=1, limit=10_000)
            seen.append(len(rows) and rows[-1].id - len(rows))  # gaps below the head
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    try:
        slow = threading.Thread(
            target=store.create_project, args=(CreateProject({"name": "slow"}, _stamp()),)
        )
        slow.start()
        time.sleep(0.3)  # the slow writer now holds the lock, its event not yet visible
        watcher.start()
        with ThreadPoolExecutor(max_workers=8) as pool:
            started = time.monotonic()
            written = list(
                pool.map(
                    lambda n: store.create_project(CreateProject({"name": f"p{n}"}, _stamp())),
                    range(OTHERS),
                )
            )
            waited = time.monotonic() - started
        slow.join()
        head = store.recorder.max_notification_id()
        assert head is not None
        deadline = time.monotonic() + 10
        while service.runners[0].position < head and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()
        service.stop()
    assert waited > HOLD_SECONDS / 2  # the others really queued behind the open transaction
    assert all(w.position is not None for w in written)
    assert set(seen) == {0}  # every read of the log was gap-free
    with psycopg.connect(settings.conninfo) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM projects").fetchall()}
    assert names == {"slow"} | {f"p{n}" for n in range(OTHERS)}
    checked = verify(store, projection, settings.conninfo)
    assert checked.ok, checked.mismatches
    store.close()
