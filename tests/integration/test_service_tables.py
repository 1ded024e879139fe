"""The write side creates the service's own tables when its store opens (not the HTTP layer)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from tests.integration.test_backup import fresh, open_store  # noqa: F401 - fixtures
from timetracker.commands.application import TimeTracking
from timetracker.http.settings import Settings


def _tables(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_opening_the_store_creates_the_idempotency_and_token_usage_tables(
    fresh: Settings,  # noqa: F811 - the fixture: an empty database
    open_store: Callable[[Settings], TimeTracking],  # noqa: F811 - the fixture
) -> None:
    assert not {"idempotency_keys", "token_usage"} & _tables(fresh.conninfo)

    open_store(fresh)

    assert {"idempotency_keys", "token_usage"} <= _tables(fresh.conninfo)
    with psycopg.connect(fresh.conninfo) as conn:
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'idempotency_keys'"
        ).fetchall()
    assert {"claim", "applied"} <= {row[0] for row in columns}
