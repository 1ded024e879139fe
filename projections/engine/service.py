"""Runs every projection in background threads of the current process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg import sql

from timetracker.projections.base import Projection, RedisProjection
from timetracker.projections.engine.followers import FollowerFactory, log_followers
from timetracker.projections.engine.group_runner import ProjectionGroupRunner
from timetracker.projections.engine.leadership import Leadership
from timetracker.projections.engine.redis_runner import RedisProjectionRunner
from timetracker.projections.engine.runner import LogFollower
from timetracker.projections.registry import all_projections, redis_projections

log = logging.getLogger(__name__)


def events_channel(store: Application[Any]) -> str:
    """The channel the event store NOTIFYs on each append."""
    return f"{store.name.lower()}_events"


class ProjectionService:
    """Runner threads woken by the store's NOTIFY on every append: one for all the
    PostgreSQL read models (`group_runner.py`), one per Redis read model, one per other
    log follower (`followers.py`)."""

    def __init__(
        self,
        store: Application[Any],
        projections: Sequence[Projection],
        conninfo: str,
        redis_projections: Sequence[RedisProjection] = (),
        redis_url: str | None = None,
        redis_prefix: str = "",
        on_advance: Callable[[str, int], None] | None = None,
        followers: Sequence[FollowerFactory] = (),
    ) -> None:
        self.store = store
        self.conninfo = conninfo
        self.leadership = Leadership(conninfo)
        self.runners: list[LogFollower] = []
        if projections:
            self.runners.append(
                ProjectionGroupRunner(store, projections, conninfo, leadership=self.leadership)
            )
        if redis_projections:
            assert redis_url is not None, "Redis projections need a Redis URL"
            self.runners += [
                RedisProjectionRunner(store, p, redis_url, redis_prefix, self.leadership)
                for p in redis_projections
            ]
        self.runners += [make(store, conninfo, self.leadership) for make in followers]
        for runner in self.runners:
            runner.on_advance = on_advance
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def for_every_read_model(
        cls,
        store: Application[Any],
        conninfo: str,
        redis_url: str | None,
        redis_prefix: str,
        on_advance: Callable[[str, int], None] | None = None,
    ) -> ProjectionService:
        """A runner for each registered read model, and each other log follower
        (`followers.py`)."""
        return cls(
            store,
            all_projections(),
            conninfo,
            redis_projections=redis_projections(),
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            on_advance=on_advance,
            followers=log_followers(),
        )

    def start(self) -> None:
        """Follow the log in the background (the tables must exist: `create_schema`)."""
        listener = threading.Thread(target=self._listen, name="projections-listen", daemon=True)
        self._threads.append(listener)
        for runner in self.runners:
            name = f"projection-{runner.name}"
            self._threads.append(
                threading.Thread(target=runner.run, args=(self._stop,), name=name, daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop every thread and close their connections."""
        self._stop.set()
        self._wake_all()
        for thread in self._threads:
            thread.join(timeout=5)
        for runner in self.runners:
            runner.close()
        self.leadership.close()

    def _wake_all(self) -> None:
        for runner in self.runners:
            runner.wake.set()

    def _listen(self) -> None:
        channel = sql.Identifier(events_channel(self.store))
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(channel))
                    self._wake_all()  # events may have arrived while not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake_all()
            except psycopg.Error:
                log.warning("Lost the event-log listener connection; reconnecting")
                self._stop.wait(1.0)
