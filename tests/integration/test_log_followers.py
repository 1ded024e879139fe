"""A log follower that is not a read model runs beside them in the projection service."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from eventsourcing.application import Application

from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import CreateProject
from timetracker.domain.project import Project
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.projections.engine.leadership import Leadership
from timetracker.projections.engine.log_reader import Stretch
from timetracker.projections.engine.outage import Outage
from timetracker.projections.engine.runner import LogFollower
from timetracker.projections.engine.service import ProjectionService

log = logging.getLogger(__name__)


class ProjectNames(LogFollower):
    """Collects the names of created projects (its position kept in memory)."""

    name = "project_names_for_test"

    def __init__(self, store: Application[Any], leadership: Leadership) -> None:
        super().__init__(store, leadership)
        self.names: list[str] = []
        self.done = threading.Event()

    def stored_position(self) -> int:
        return self.position

    def _apply(self, stretch: Stretch) -> None:
        for event in stretch.events:
            if isinstance(event, Project.Created):
                self.names.append(event.fields["name"])
        self.position = stretch.last
        if len(self.names) >= 2:
            self.done.set()

    def close(self) -> None:
        pass


def test_the_service_runs_each_follower_it_is_given(settings: Settings) -> None:
    store = TimeTracking(settings.event_store_env())
    made: list[ProjectNames] = []

    def follower(store: Application[Any], conninfo: str, leadership: Leadership) -> LogFollower:
        made.append(ProjectNames(store, leadership))
        return made[-1]

    service = ProjectionService(store, [], settings.conninfo, followers=[follower])
    service.start()
    try:
        stamp = Stamp(at=datetime.now(UTC), user_id=None, request_id="t", is_admin=True)
        for name in ("One", "Two"):
            store.create_project(CreateProject({"name": name}, stamp))
        [runner] = made
        assert runner.done.wait(10.0)
        assert runner.names == ["One", "Two"]
    finally:
        service.stop()
        store.close()


class FailingWhileAway(ProjectNames):
    """Fails every batch while `away` is set, as a follower does while its database is away;
    its backoff is 5 s from the first failure (rather than doubling from 1 s)."""

    def __init__(self, store: Application[Any], leadership: Leadership) -> None:
        super().__init__(store, leadership)
        self.away = threading.Event()
        self.failures = 0
        self.__dict__["_outage"] = Outage(f"Projection {self.name}", log, first_delay=5.0)

    def _apply(self, stretch: Stretch) -> None:
        if self.away.is_set():
            self.failures += 1
            raise psycopg.OperationalError("the database is away (test)")
        super()._apply(stretch)


def test_news_after_an_outage_ends_a_followers_backoff_early(settings: Settings) -> None:
    """The first write after an outage finds its read model caught up within the
    read-your-writes timeout (2 s), not after the follower's whole backoff (5 s)."""
    store = TimeTracking(settings.event_store_env())
    made: list[FailingWhileAway] = []

    def follower(store: Application[Any], conninfo: str, leadership: Leadership) -> LogFollower:
        made.append(FailingWhileAway(store, leadership))
        made[-1].away.set()
        return made[-1]

    service = ProjectionService(store, [], settings.conninfo, followers=[follower])
    service.start()
    try:
        [runner] = made
        stamp = Stamp(at=datetime.now(UTC), user_id=None, request_id="t", is_admin=True)
        store.create_project(CreateProject({"name": "One"}, stamp))
        deadline = time.monotonic() + 10.0
        while runner.failures == 0:
            assert time.monotonic() < deadline, "the follower never tried"
            time.sleep(0.01)
        runner.away.clear()  # back: the next news should be applied at once, not in 5 s
        store.create_project(CreateProject({"name": "Two"}, stamp))
        assert runner.done.wait(2.0), "the follower waited out its backoff"
        assert runner.names == ["One", "Two"]
        assert runner.failures == 1
    finally:
        service.stop()
        store.close()
