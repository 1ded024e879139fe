"""Page-at-a-time reads shared by the list queries."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, LiteralString

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


@dataclass(frozen=True)
class BodyPage:
    """One page as a JSON array of the rows' stored bodies, and the total of matching rows."""

    json: bytes
    total: int


def bodies_statement(select: sql.Composable, count: sql.Composable) -> bytes:
    """The one statement of a page of bodies (`kept_pages.py::KeptPages.fetch`), as bytes:
    made once per filter's shape by each read model (composing it is 5% of a list read;
    psycopg encodes a text statement on every execution).

    Like `fetch_page`, for rows kept with their API JSON (`bodies.py`), in one round trip:
    `select` names `body` and orders and limits its rows. The database joins the page's
    bodies into one JSON array (one text value for the page: nothing is decoded or encoded
    per row here), and runs `count` in the same statement only when the page leaves the
    total open (a `CASE` runs its subquery only in the branch taken).

    The bodies are joined in the order `select` yields them: a plain aggregate over a
    subquery with ORDER BY and LIMIT takes its rows as the subquery's Limit hands them over.
    An ORDER BY inside `string_agg` would sort the page a second time, copying every body
    (PostgreSQL 15: 5,100 against 6,100-8,200 pages a second for 50 entries).

    The third column is the position of the read model named by `%(read_model)s`, read in
    the page's snapshot: the page is exactly that read model at that position.
    """
    joined = (
        sql.SQL(
            "SELECT '[' || coalesce(string_agg(s.body::text, ','), '') || ']',"
            " CASE WHEN count(*) < %(limit)s AND (count(*) > 0 OR %(offset)s = 0)"
            " THEN %(offset)s + count(*) ELSE ("
        )
        + count
        + sql.SQL(
            ") END, (SELECT position FROM projection_tracking WHERE name = %(read_model)s) FROM ("
        )
        + select
        + sql.SQL(") s")
    )
    return joined.as_string(None).encode()


def conditions_set(*filters: tuple[LiteralString, object]) -> tuple[LiteralString, ...]:
    """The conditions of the `(condition, value)` filters whose value is given (not None)."""
    return tuple(condition for condition, value in filters if value is not None)


@functools.lru_cache(maxsize=64)
def list_statement(
    select: LiteralString,
    order: LiteralString,
    count: LiteralString,
    conditions: tuple[LiteralString, ...] = (),
) -> bytes:
    """`bodies_statement` for `select` and `count` under the `conditions` that are set, the
    page in `order`: made once per set of conditions."""
    where_ = where([sql.SQL(condition) for condition in conditions])
    return bodies_statement(
        sql.SQL(select)
        + where_
        + sql.SQL(" ORDER BY ")
        + sql.SQL(order)
        + sql.SQL(" LIMIT %(limit)s OFFSET %(offset)s"),
        sql.SQL(count) + where_,
    )


def with_page(statement: bytes, limit: int, offset: int) -> bytes:
    """The statement with its page's LIMIT and OFFSET written in as numbers.

    As parameters they would cost a plan a query: PostgreSQL plans a prepared statement
    anew on every execution while its generic plan looks dearer than the plans for the
    values given, and a LIMIT it cannot see makes the generic plan look dearer (it assumes
    a tenth of the rows). Planning was most of the database's time for a page of entries
    (pgbench, 10 clients: 7,300-7,600 pages a second planned each time, 10,700-15,100 with
    the generic plan). A page that is asked for often is prepared with its numbers.
    """
    return statement.replace(b"%(limit)s", b"%d" % limit).replace(b"%(offset)s", b"%d" % offset)


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
