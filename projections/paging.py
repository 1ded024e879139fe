"""Page-at-a-time reads shared by the list queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
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
