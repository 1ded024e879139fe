"""List pages kept per read-model position: answered from memory only while the position a
read is shown at is no further than the one the page was read at, and forgotten when the read
model is rewritten."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from timetracker.http.settings import Settings
from timetracker.projections.kept_pages import KeptPages
from timetracker.projections.paging import bodies_statement

pytestmark = pytest.mark.integration

STATEMENT = bodies_statement(
    sql.SQL(
        "SELECT json_build_object('n', n, 'label', label) AS body FROM kept_rows"
        " WHERE n >= %(from)s ORDER BY n LIMIT %(limit)s OFFSET %(offset)s"
    ),
    sql.SQL("SELECT count(*) FROM kept_rows WHERE n >= %(from)s"),
)
FROM_1 = {"from": 1}


@pytest.fixture
async def pool(
    settings: Settings, read_pool: AsyncConnectionPool[Any]
) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """A pool on a database with `kept_rows` (1-7, labelled "a") and tracked positions."""
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept_rows (n int PRIMARY KEY, label text NOT NULL)")
        conn.execute("INSERT INTO kept_rows SELECT n, 'a' FROM generate_series(1, 7) n")
    yield read_pool


async def _execute(pool: AsyncConnectionPool[Any], statement: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(statement)  # type: ignore[arg-type]


def _labels(json: bytes) -> list[str]:
    return [row["label"] for row in orjson.loads(json)]


async def test_a_page_is_answered_from_memory_while_its_read_model_stands_still(
    pool: AsyncConnectionPool[Any],
) -> None:
    pages = KeptPages("clients", 1024 * 1024)
    await _execute(pool, "UPDATE projection_tracking SET position = 4 WHERE name = 'clients'")
    first = await pages.fetch(pool, STATEMENT, FROM_1, 1, 3, shown=4)
    assert (_labels(first.json), first.total) == (["a", "a", "a"], 7)
    # The rows change without the read model's position moving (no runner would do this):
    # the page kept for that position is answered, which shows it was not read again.
    await _execute(pool, "UPDATE kept_rows SET label = 'b'")
    assert await pages.fetch(pool, STATEMENT, FROM_1, 1, 3, shown=4) == first
    assert await pages.fetch(pool, STATEMENT, FROM_1, 1, 3, shown=2) == first  # news behind
    # another page, another filter: read, not taken for the kept one
    assert _labels((await pages.fetch(pool, STATEMENT, FROM_1, 2, 3, shown=4)).json) == ["b"] * 3
    assert (await pages.fetch(pool, STATEMENT, {"from": 6}, 1, 3, shown=4)).total == 2
    # the read model shown further on (as after a runner's batch), or no position known:
    # read again
    assert _labels((await pages.fetch(pool, STATEMENT, FROM_1, 1, 3, shown=5)).json) == ["b"] * 3
    await _execute(pool, "UPDATE kept_rows SET label = 'c'")
    assert _labels((await pages.fetch(pool, STATEMENT, FROM_1, 1, 3)).json) == ["c"] * 3
    assert len(pages) == 3


async def test_a_rewritten_read_model_forgets_every_page(pool: AsyncConnectionPool[Any]) -> None:
    pages = KeptPages("clients", 1024 * 1024)
    await pages.fetch(pool, STATEMENT, FROM_1, 1, 3, shown=0)
    await _execute(pool, "UPDATE kept_rows SET label = 'b'")
    pages.forget()  # a rebuild's switch at the same position
    assert (len(pages), pages.bytes) == (0, 0)
    assert _labels((await pages.fetch(pool, STATEMENT, FROM_1, 1, 3, shown=0)).json) == ["b"] * 3


async def test_a_read_model_nobody_tracks_is_read_every_time(
    pool: AsyncConnectionPool[Any],
) -> None:
    pages = KeptPages("nobody", 1024 * 1024)
    await pages.fetch(pool, STATEMENT, FROM_1, 1, 3, shown=0)
    assert len(pages) == 0


async def test_kept_pages_stay_within_their_bytes_the_oldest_asked_going_first(
    pool: AsyncConnectionPool[Any],
) -> None:
    one_page = len((await KeptPages("clients", 1 << 20).fetch(pool, STATEMENT, FROM_1, 1, 1)).json)
    pages = KeptPages("clients", 3 * one_page)
    for n in (1, 2, 3):
        await pages.fetch(pool, STATEMENT, FROM_1, n, 1, shown=0)
    await pages.fetch(pool, STATEMENT, FROM_1, 1, 1, shown=0)  # asked again: now the newest
    await pages.fetch(pool, STATEMENT, FROM_1, 4, 1, shown=0)  # one too many: page 2 goes
    assert (len(pages), pages.bytes) == (3, 3 * one_page)
    await _execute(pool, "UPDATE kept_rows SET label = 'b'")
    assert _labels((await pages.fetch(pool, STATEMENT, FROM_1, 1, 1, shown=0)).json) == ["a"]
    assert _labels((await pages.fetch(pool, STATEMENT, FROM_1, 2, 1, shown=0)).json) == ["b"]
    # a page larger than all the room there is is not kept at all
    small = KeptPages("clients", one_page - 1)
    await small.fetch(pool, STATEMENT, FROM_1, 1, 1, shown=0)
    assert (len(small), small.bytes) == (0, 0)
