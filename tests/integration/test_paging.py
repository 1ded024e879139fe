"""Pages against a real table: rows, totals, and the count only when it is needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql
from psycopg.errors import DivisionByZero
from psycopg_pool import AsyncConnectionPool

from timetracker.http.settings import Settings
from timetracker.projections.kept_pages import KEPT_LIST_BYTES, KeptPages
from timetracker.projections.paging import BodyPage, bodies_statement, fetch_page

ROWS = 7
SELECT = sql.SQL("SELECT n FROM paging_rows ORDER BY n LIMIT %(limit)s OFFSET %(offset)s")
COUNT = sql.SQL("SELECT count(*) FROM paging_rows")
FAILING_COUNT = sql.SQL("SELECT 1 / 0 AS count")  # any page that runs it fails


@pytest.fixture
async def pool(
    settings: Settings, read_pool: AsyncConnectionPool[Any]
) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """A pool on a database with `paging_rows` and the tracked read models' positions."""
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE paging_rows (n int PRIMARY KEY)")
        conn.execute("INSERT INTO paging_rows SELECT generate_series(1, %s)", (ROWS,))
    yield read_pool


@pytest.mark.parametrize(
    ("page", "per_page", "numbers"),
    [
        (1, 3, [1, 2, 3]),
        (2, 3, [4, 5, 6]),
        (3, 3, [7]),
        (4, 3, []),
        (1, 7, [1, 2, 3, 4, 5, 6, 7]),
        (1, 50, [1, 2, 3, 4, 5, 6, 7]),
        (2, 7, []),
    ],
)
async def test_every_page_has_its_rows_and_the_whole_total(
    pool: AsyncConnectionPool[Any], page: int, per_page: int, numbers: list[int]
) -> None:
    found = await fetch_page(pool, SELECT, COUNT, {}, page, per_page)
    assert [row["n"] for row in found.rows] == numbers
    assert found.total == ROWS


async def test_a_page_that_is_not_full_gives_the_total_without_counting(
    pool: AsyncConnectionPool[Any],
) -> None:
    last = await fetch_page(pool, SELECT, FAILING_COUNT, {}, 3, 3)
    assert ([row["n"] for row in last.rows], last.total) == ([7], ROWS)
    only = await fetch_page(pool, SELECT, FAILING_COUNT, {}, 1, 50)
    assert only.total == ROWS
    empty_first = await fetch_page(
        pool,
        sql.SQL("SELECT n FROM paging_rows WHERE n > 99 LIMIT %(limit)s OFFSET %(offset)s"),
        FAILING_COUNT,
        {},
        1,
        50,
    )
    assert (empty_first.rows, empty_first.total) == ([], 0)
    # A full page, or an empty one past the end, leaves the total open: it is counted.
    for page, per_page in ((1, 3), (4, 3), (1, 7)):
        with pytest.raises(DivisionByZero):
            await fetch_page(pool, SELECT, FAILING_COUNT, {}, page, per_page)


async def fetch_bodies(
    pool: AsyncConnectionPool[Any],
    statement: bytes,
    params: dict[str, Any],
    page: int,
    per_page: int,
) -> BodyPage:
    """A page read afresh: nothing kept from an earlier read (`test_kept_pages.py`)."""
    return await KeptPages("clients", KEPT_LIST_BYTES).fetch(
        pool, statement, params, page, per_page
    )


# Not a constant (the planner would fold `1 / 0` before running anything): fails when run.
FAILING_SCAN = sql.SQL("SELECT 1 / (count(*) - count(*)) FROM paging_rows")
BODIES = sql.SQL(
    "SELECT json_build_object('n', n) AS body, n FROM paging_rows"
    " ORDER BY n LIMIT %(limit)s OFFSET %(offset)s"
)


@pytest.mark.parametrize(
    ("page", "per_page", "numbers"),
    [(1, 3, [1, 2, 3]), (3, 3, [7]), (4, 3, []), (1, 50, [1, 2, 3, 4, 5, 6, 7])],
)
async def test_a_page_of_bodies_is_one_json_array_in_order_with_the_whole_total(
    pool: AsyncConnectionPool[Any], page: int, per_page: int, numbers: list[int]
) -> None:
    found = await fetch_bodies(pool, bodies_statement(BODIES, COUNT), {}, page, per_page)
    assert orjson.loads(found.json) == [{"n": n} for n in numbers]
    assert found.total == ROWS


async def test_a_page_of_bodies_counts_in_the_same_statement_only_when_the_page_needs_it(
    pool: AsyncConnectionPool[Any],
) -> None:
    last = await fetch_bodies(pool, bodies_statement(BODIES, FAILING_SCAN), {}, 3, 3)
    assert (orjson.loads(last.json), last.total) == ([{"n": 7}], ROWS)
    for page, per_page in ((1, 3), (4, 3), (1, 7)):
        with pytest.raises(DivisionByZero):
            await fetch_bodies(pool, bodies_statement(BODIES, FAILING_SCAN), {}, page, per_page)


@pytest.mark.parametrize("order", ["n DESC", "mod(n * 5, 7), n"])
async def test_a_page_of_bodies_keeps_the_order_of_its_select(
    pool: AsyncConnectionPool[Any], order: str
) -> None:
    """The bodies are joined in the order the select yields them, not the table's order
    (the aggregate has no ORDER BY of its own)."""
    select = sql.SQL(
        "SELECT json_build_object('n', n) AS body FROM paging_rows"
        f" ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s"
    )
    async with pool.connection() as conn:
        expected = [
            row["n"]
            for row in await (
                await conn.execute(f"SELECT n FROM paging_rows ORDER BY {order}")
            ).fetchall()
        ]
    assert expected != sorted(expected)  # the test means something only then
    found = await fetch_bodies(pool, bodies_statement(select, COUNT), {}, 1, ROWS)
    assert [body["n"] for body in orjson.loads(found.json)] == expected
    second = await fetch_bodies(pool, bodies_statement(select, COUNT), {}, 2, 3)
    assert [body["n"] for body in orjson.loads(second.json)] == expected[3:6]
