"""An event store and read-model schema on this test's emptied PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from timetracker.commands.application import TimeTracking
from timetracker.http.settings import Settings
from timetracker.projections.accounts import AccountsProjection
from timetracker.projections.base import Projection
from timetracker.projections.clients import ClientsProjection
from timetracker.projections.engine.runner import create_schema
from timetracker.projections.projects import ProjectsProjection


@pytest.fixture
def store(settings: Settings) -> Iterator[TimeTracking]:
    """The PostgreSQL event store, empty."""
    app = TimeTracking(settings.event_store_env())
    yield app
    app.close()


@pytest.fixture
def projections(settings: Settings) -> list[Projection]:
    """The catalogue and account read models, their tables created, tracked from 0."""
    made: list[Projection] = [AccountsProjection(), ClientsProjection(), ProjectsProjection()]
    create_schema(settings.conninfo, made)
    return made
