"""An event store and read-model schema on this test's emptied PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

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


@pytest.fixture
async def read_pool(
    settings: Settings, projections: list[Projection]
) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """A pool like a serving process's read pool (autocommit, dict rows), on a database
    with the read models of `projections` tracked."""
    made: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.conninfo,
        min_size=1,
        max_size=2,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
    )
    await made.open(wait=True)
    yield made
    await made.close()
