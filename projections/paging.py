"""Page-at-a-time reads shared by the list queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True)
class Page:
    """One page of rows and the total number of matching rows."""

    rows: list[dict[str, Any]]
    total: int


async def fetch_page(
    pool: AsyncConnectionPool[Any],
    select: sql.Composable,
    count: sql.Composable,
    params: dict[str, Any],
    page: int,
    per_page: int,
) -> Page:
    """Run `select` with `limit`/`offset`, then `count` only if the page leaves the total open.

    A page with some rows but fewer than `per_page` is the last one, so it gives the total
    itself (as does an empty first page): a list that fits in one page costs one query.
    """
    offset = (page - 1) * per_page
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(select, {**params, "limit": per_page, "offset": offset})
        rows = list(await cursor.fetchall())
        if len(rows) < per_page and (rows or offset == 0):
            return Page(rows=rows, total=offset + len(rows))
        await cursor.execute(count, params)
        counted = await cursor.fetchone()
        return Page(rows=rows, total=int(counted["count"]) if counted else 0)


@dataclass(frozen=True)
class BodyPage:
    """One page as a JSON array of the rows' stored bodies, and the total of matching rows."""

    json: bytes
    total: int


async def fetch_bodies(
    pool: AsyncConnectionPool[Any],
    select: sql.Composable,
    order: sql.Composable,
    count: sql.Composable,
    params: dict[str, Any],
    page: int,
    per_page: int,
) -> BodyPage:
    """Like `fetch_page`, for rows kept with their API JSON (`bodies.py`), in one round trip.

    `select` names `body` and the `order` columns. The database joins the page's bodies
    into one JSON array (one text value for the page: nothing is decoded or encoded per
    row here), and runs `count` in the same statement only when the page leaves the total
    open (a `CASE` runs its subquery only in the branch taken).
    """
    return await fetch_bodies_with(
        pool, bodies_statement(select, order, count), params, page, per_page
    )


def bodies_statement(select: sql.Composable, order: sql.Composable, count: sql.Composable) -> bytes:
    """The one statement of `fetch_bodies`, as bytes (a read model may keep it per filter;
    psycopg encodes a text statement on every execution)."""
    joined = (
        sql.SQL("SELECT '[' || coalesce(string_agg(s.body::text, ',' ORDER BY ")
        + order
        + sql.SQL(
            "), '') || ']', CASE WHEN count(*) < %(limit)s AND (count(*) > 0 OR %(offset)s = 0)"
            " THEN %(offset)s + count(*) ELSE ("
        )
        + count
        + sql.SQL(") END FROM (")
        + select
        + sql.SQL(") s")
    )
    return joined.as_string(None).encode()


async def fetch_bodies_with(
    pool: AsyncConnectionPool[Any],
    statement: bytes,
    params: dict[str, Any],
    page: int,
    per_page: int,
) -> BodyPage:
    """`fetch_bodies` with its statement already made by `bodies_statement`."""
    values = {**params, "limit": per_page, "offset": (page - 1) * per_page}
    async with pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(statement, values)
        found = await cursor.fetchone()
    assert found is not None
    return BodyPage(json=found[0].encode(), total=int(found[1]))


async def fetch_one(
    pool: AsyncConnectionPool[Any], query: sql.Composable, params: dict[str, Any]
) -> dict[str, Any] | None:
    """The first row of a query, or None."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query, params)
        row: dict[str, Any] | None = await cursor.fetchone()
        return row


def where(conditions: list[sql.Composable]) -> sql.Composable:
    """A WHERE clause joining `conditions` with AND (empty when there are none)."""
    if not conditions:
        return sql.SQL("")
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
