"""The event store's ceiling: a bare `eventsourcing` save loop on the same PostgreSQL.

`processes` processes of `threads` threads each create one small aggregate per `save()` (one
event of about the size of a time entry's, one transaction, the library's table lock) for
`seconds` seconds, in an application and database of their own; prints saves per second.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Sample(Aggregate):
    """About the payload of an entry's creation event."""

    @event("Created")
    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields


class Ceiling(Application[UUID]):
    name = "BenchCeiling"


FIELDS = {
    "project_id": 7,
    "task_id": 42,
    "start_time": "2024-01-15T09:00:00+00:00",
    "end_time": "2024-01-15T10:30:00+00:00",
    "notes": "Bench entry 123456",
    "tags": "meeting,review",
    "billable": True,
    "actor": {"user_id": 12, "token_id": 13, "token_prefix": "tt_abcde"},
    "request_id": "0f4c2a2e6f0b4d3f9a1d2c3b4a5f6e7d",
}


def _loop(env: Mapping[str, str], threads: int, warmup: float, seconds: float) -> int:
    app = Ceiling(dict(env))
    counts = [0] * threads
    start = time.perf_counter() + warmup
    stop = start + seconds

    def work(slot: int) -> None:
        while (now := time.perf_counter()) < stop:
            app.save(Sample(FIELDS))
            if now >= start:
                counts[slot] += 1

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    app.close()
    return sum(counts)


def _child(env: Mapping[str, str], threads: int, warmup: float, seconds: float, out: Any) -> None:
    out.send(_loop(env, threads, warmup, seconds))


def saves_per_second(
    env: Mapping[str, str], processes: int, threads: int, warmup: float, seconds: float
) -> float:
    """Saves per second of `processes` x `threads` savers (each save: one event)."""
    Ceiling(dict(env)).close()  # create the tables once: concurrent CREATEs can collide
    env = {
        **env,
        "CREATE_TABLE": "n",
        "POSTGRES_POOL_SIZE": str(threads),
        "POSTGRES_MAX_OVERFLOW": "0",
    }
    context = multiprocessing.get_context("spawn")
    pipes, children = [], []
    for _ in range(processes):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(env, threads, warmup, seconds, send))
        child.start()
        pipes.append(receive)
        children.append(child)
    total = sum(int(pipe.recv()) for pipe in pipes)
    for child in children:
        child.join()
    return total / seconds
