"""A log follower that is not a read model runs beside them in the projection service."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import Application

from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import CreateProject
from timetracker.domain.project import Project
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.projections.engine.leadership import Leadership
from timetracker.projections.engine.log_reader import Stretch
from timetracker.projections.engine.runner import LogFollower
from timetracker.projections.engine.service import ProjectionService


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
