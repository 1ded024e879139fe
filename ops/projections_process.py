"""The projection runners of a serving process, in a child process of their own.

Run as threads of the serving process, the eight runners take the interpreter lock from
its event loop after every write: requests queue behind them, and one process does the
work of two. In a child process they work on the other core. The child is started and
stopped with the app (`serve` asks for it; tests and `projections run` keep the threads),
started again if it dies, and stops by itself when its parent is gone. The app starts
serving only once the child's runners run (or `READY_SECONDS` passed): the child imports
the whole app first, seconds on a busy machine, and writes answered meanwhile would wait
out their read-your-writes timeout. Which process's
runners lead each projection is decided as before (PostgreSQL advisory locks), so any
number of serving processes may each have one.

A write's read-your-writes wait then hears of its runners' batches the way it hears of
any process's: through PostgreSQL and Redis (`projections/engine/position_news.py`). The child's
event store skips the pool's pre-ping: a runner retries a failed batch by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event as EventType

from timetracker.commands.application import open_time_tracking
from timetracker.http.heap import freeze_startup_objects
from timetracker.http.settings import Settings
from timetracker.http.threads import in_thread
from timetracker.http.webhook_dispatch import create_dispatcher
from timetracker.projections.engine.service import ProjectionService
from timetracker.webhooks.dispatcher import DispatcherThread

log = logging.getLogger(__name__)

# Event-store connections of the child at most, shared by its log readers (three runners and
# the webhook dispatcher): a read holds one for milliseconds (README "Connection budget").
RUNNER_POOL_SIZE = 2
CHECK_SECONDS = 1.0  # how often the parent checks its child, and the child its parent
STOP_SECONDS = 10.0  # then SIGKILL
READY_SECONDS = 60.0  # the longest the app waits for its child's runners before serving


def run_projections(settings: Settings, parent_pid: int, ready: EventType) -> None:
    """In the child: run every projection and the webhook dispatcher until SIGTERM or the
    parent's death; `ready` is set once they run."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s [projections] %(name)s: %(message)s"
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops this
    # The runners and the dispatcher read the log through the event store's pool, of its
    # own size whatever the serving process's pool may hold (README: Connection budget).
    pooled = dataclasses.replace(settings, db_pool_size=RUNNER_POOL_SIZE, db_max_overflow=0)
    store = open_time_tracking(pooled.event_store_env(pre_ping=False))
    wakes: list[Callable[[str, int], None]] = []  # the dispatcher's, once it exists

    def advanced(name: str, position: int) -> None:
        for wake in wakes:
            wake(name, position)

    service = ProjectionService.for_every_read_model(
        store,
        settings.conninfo,
        settings.redis_url,
        settings.redis_prefix,
        on_advance=advanced,
    )
    # The dispatcher hears of new events from the runners beside it, not from a listening
    # connection of its own: one PostgreSQL connection fewer (README "Connection budget").
    dispatcher = create_dispatcher(store, settings, leadership=service.leadership, listen=False)
    wakes.append(dispatcher.wake)
    webhooks = DispatcherThread(dispatcher)
    freeze_startup_objects()
    service.start()
    webhooks.start()
    ready.set()
    try:
        while not stopped.wait(CHECK_SECONDS):
            if os.getppid() != parent_pid:
                log.warning("The serving process is gone; stopping the projections")
                break
    finally:
        webhooks.stop()
        service.stop()
        store.close()


class ProjectionsProcess:
    """Starts, restarts and stops the child process running the projections."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self.process: SpawnProcess | None = None

    def start(self) -> None:
        """Start the child (the read-model schema must exist) and wait until its runners
        run, at most `READY_SECONDS` (a child that dies is started again by the watcher)."""
        ready = self._context.Event()
        process = self._context.Process(
            target=run_projections,
            args=(self.settings, os.getpid(), ready),
            name="timetracker-projections",
            daemon=True,
        )
        self.process = process
        process.start()
        deadline = time.monotonic() + READY_SECONDS
        while not ready.wait(CHECK_SECONDS / 10):
            if not process.is_alive():
                return  # `restart_if_dead` says so and starts another
            if time.monotonic() > deadline:
                log.warning("The projections process is not running after %.0f s", READY_SECONDS)
                return

    def restart_if_dead(self) -> None:
        """Start the child again if it died."""
        if self.process is not None and not self.process.is_alive():
            code = self.process.exitcode
            log.error("The projections process exited with %s; restarting it", code)
            self.start()

    def stop(self) -> None:
        """SIGTERM the child and wait for it (SIGKILL after STOP_SECONDS)."""
        if self.process is None:
            return
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(STOP_SECONDS)
            if self.process.is_alive():
                log.warning("The projections process ignored SIGTERM; killing it")
                self.process.kill()
        self.process.join()


@contextlib.asynccontextmanager
async def projections_process(settings: Settings) -> AsyncIterator[None]:
    """Run the projections in a child process while the context lasts."""
    child = ProjectionsProcess(settings)
    await in_thread(child.start)

    async def watch() -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            await in_thread(child.restart_if_dead)

    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await in_thread(child.stop)
