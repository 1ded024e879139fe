"""`timetracker serve --workers N`: N processes serving one port.

The parent (the `serve` process) has already started the embedded services and printed the
first-start admin token; it then starts N worker processes (`python -m
timetracker.ops.workers`), each running the whole app on the same host and port with
SO_REUSEPORT, so the kernel spreads connections over them. Worker 0 alone runs the
projection service, in a child process of its own (`ops/projections_process.py`), which it
starts again if it dies; the runners still elect one leader per projection across
processes and servers (PostgreSQL advisory locks, `projections/engine/leadership.py`), so
each projection runs exactly once.

- The connection pools (`DB_POOL_SIZE`, `DB_MAX_OVERFLOW`, `READ_POOL_SIZE`) are the
  server's: each worker gets its share, so N workers hold about as many PostgreSQL
  connections as one process would.
- The parent prints `======== Running on ... ========` once every worker listens.
- SIGINT or SIGTERM to the parent stops every worker (SIGTERM, a graceful shutdown), waits
  for them, and the parent exits 0.
- A worker dies with its parent even when the parent is SIGKILLed: each worker asks the
  kernel for SIGKILL on its parent's death (`prctl(PR_SET_PDEATHSIG)`), so a crashed
  `serve` never leaves a worker holding the port.
- A worker that dies on its own after it started is started again; one that fails while
  starting stops the whole server (exit status 1), e.g. when the port is taken.

The workers get their settings from the parent through their standard input (pickled), and
report that they listen by writing to a pipe the parent gave them.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import logging
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from timetracker.http.settings import Settings

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
START_TIMEOUT = 120.0  # a worker creates the read-model schema and opens its pools
STOP_TIMEOUT = 20.0  # then SIGKILL
RESTART_DELAY = 1.0
CHECK_INTERVAL = 0.2


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class WorkerOrders:
    """What the parent tells a worker, through its standard input."""

    settings: Settings
    index: int
    parent_pid: int
    ready_fd: int


def worker_settings(settings: Settings, count: int) -> Settings:
    """One worker's settings: the connection pools are the server's, split among workers.

    PostgreSQL's `max_connections` is shared by everything on the server; N workers open
    about as many connections together as one process with the configured sizes would.
    """

    def share(size: int, minimum: int) -> int:
        return max(minimum, -(-size // count))

    return dataclasses.replace(
        settings,
        db_pool_size=share(settings.db_pool_size, 2),
        db_max_overflow=share(settings.db_max_overflow, 0),
        read_pool_size=share(settings.read_pool_size, 2),
    )


class _Stop(Exception):
    """SIGINT or SIGTERM reached the parent."""


def claim_port(host: str, port: int) -> int:
    """The port the workers will share: `port`, or a free one for 0; EADDRINUSE if taken.

    Workers bind with SO_REUSEPORT, which would let them join a socket that another process
    of this user opened with it too (a stray server), and share its connections: bind once
    without it first, so a taken port fails as it does with one process.
    """
    for family, kind, proto, _, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
            port = int(probe.getsockname()[1])
    return port


class Supervisor:
    """Starts, watches and stops the worker processes of one `serve`."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.started_at: dict[int, float] = {}

    def _spawn(self, index: int) -> int:
        """Start worker `index`; returns the read end of its ready pipe."""
        ready_read, ready_write = os.pipe()
        settings = worker_settings(self.settings, self.count)
        if index > 0:
            # One projections process per server: worker 0's. A second one would only
            # stand by (the leader is elected) while holding PostgreSQL connections, and
            # worker 0 starts its child again within a second if it dies (README:
            # Connection budget).
            settings = dataclasses.replace(
                settings, run_projections=False, projections_process=False
            )
        orders = WorkerOrders(settings, index, os.getpid(), ready_write)
        process = subprocess.Popen(
            [sys.executable, "-m", "timetracker.ops.workers"],
            stdin=subprocess.PIPE,
            pass_fds=(ready_write,),
            # Its own process group: Ctrl-C in a terminal reaches the parent only, which
            # stops the workers in order.
            process_group=0,
        )
        os.close(ready_write)
        assert process.stdin is not None
        process.stdin.write(pickle.dumps(orders))
        process.stdin.close()
        self.workers[index] = process
        self.started_at[index] = time.monotonic()
        return ready_read

    def start(self) -> None:
        """Start every worker and wait until all of them listen: worker 0 first, so that
        no worker takes requests before its projections run (a write answered before then
        waits for its read models, up to the read-your-writes timeout)."""
        deadline = time.monotonic() + START_TIMEOUT
        self._wait_listening({self._spawn(0): 0}, deadline)
        self._wait_listening({self._spawn(i): i for i in range(1, self.count)}, deadline)

    def _wait_listening(self, waiting: dict[int, int], deadline: float) -> None:
        """Wait until the workers whose ready pipes are `waiting` (fd -> index) listen."""
        try:
            while waiting:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"workers not listening after {START_TIMEOUT:.0f} s")
                readable, _, _ = select.select(list(waiting), [], [], CHECK_INTERVAL)
                for fd in readable:
                    if os.read(fd, 16):
                        os.close(fd)
                        del waiting[fd]
                for index in list(waiting.values()):
                    code = self.workers[index].poll()
                    if code is not None:
                        raise WorkerFailedError(index, code)
        finally:
            for fd in waiting:
                os.close(fd)

    def watch(self) -> None:
        """Until stopped: start again any worker that dies."""
        while True:
            time.sleep(CHECK_INTERVAL)
            for index, process in list(self.workers.items()):
                code = process.poll()
                if code is None:
                    continue
                log.error(
                    "Worker %d (pid %d) exited with %s; restarting it", index, process.pid, code
                )
                time.sleep(RESTART_DELAY)
                ready = self._spawn(index)
                os.close(ready)  # it answers when it listens; nobody waits for it

    def stop(self) -> None:
        """SIGTERM every worker, wait for them (SIGKILL after STOP_TIMEOUT)."""
        for process in self.workers.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for index, process in self.workers.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("Worker %d ignored SIGTERM; killing it", index)
                process.kill()
                process.wait()


class WorkerFailedError(RuntimeError):
    """A worker exited before it listened."""

    def __init__(self, index: int, code: int) -> None:
        super().__init__(f"worker {index} exited with {code} while starting")
        self.index = index
        self.code = code


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def serve_workers(settings: Settings, count: int) -> int:
    """Run `count` workers on settings.host:settings.port until SIGINT or SIGTERM."""
    settings = dataclasses.replace(settings, port=claim_port(settings.host, settings.port))
    supervisor = Supervisor(settings, count)
    previous = {
        signum: signal.signal(signum, _raise_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            supervisor.start()
            print(
                f"======== Running on http://{settings.host}:{settings.port}"
                f" ({count} workers) ========\n(Press CTRL+C to quit)",
                flush=True,
            )
            supervisor.watch()
        except _Stop:
            pass
        except WorkerFailedError as exc:
            print(f"timetracker: {exc}", file=sys.stderr)
            return 1
        finally:
            # A second signal while stopping must not cut the stop short.
            for signum in previous:
                signal.signal(signum, signal.SIG_IGN)
            supervisor.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


# --- the worker process -------------------------------------------------------------------


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError) as exc:
        log.warning("Workers will not die with their parent: %s", exc)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def run_worker(orders: WorkerOrders) -> int:
    """Serve the app on the shared port until SIGINT or SIGTERM."""
    from aiohttp import web

    from timetracker.http.access_log import AccessLog
    from timetracker.http.app import create_serving_app
    from timetracker.ops.projections_process import projections_process

    def listening(_: Any) -> None:
        with contextlib.suppress(OSError):
            os.write(orders.ready_fd, b"1")
            os.close(orders.ready_fd)

    settings = orders.settings
    try:
        web.run_app(
            create_serving_app(settings, projections_process),
            host=settings.host,
            port=settings.port,
            reuse_port=True,
            print=listening,
            access_log_class=AccessLog,
            # A connection idle this long, or still sending a request's headers, is closed.
            keepalive_timeout=settings.header_timeout,
        )
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"timetracker: {exc}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    """Entry point of a worker: `python -m timetracker.ops.workers`, orders on stdin."""
    orders: WorkerOrders = pickle.loads(sys.stdin.buffer.read())
    die_with_parent(orders.parent_pid)
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s [worker {orders.index}] %(name)s: %(message)s",
    )
    return run_worker(orders)


if __name__ == "__main__":
    sys.exit(main())
