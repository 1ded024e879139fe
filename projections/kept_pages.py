"""List pages a serving process keeps, each for the read-model position it shows.

A dashboard or an integration polling a list asks for the same page again and again while
nothing changes. A page read here is kept with the position of its read model read in the
same statement (one snapshot: the page is exactly what the read model held at that
position). Asked again, the page is answered from memory if the read model's position in
the database is still the same: one lookup of a primary key instead of the page's query,
and nothing to fetch, decode or copy from PostgreSQL.

The position is read from the database, not from the news a process hears
(`engine/position_news.py`): a client that wrote through another process and then lists
here must see its write (read-your-writes), and news may reach this process a moment
after the write was answered. News is still used to skip the check when it already shows
that the read model has moved on (`shown`): then the page is read at once.

A rebuild's switch or a restore may change a read model without moving its position
forward: `forget` (called on news of that, `Freshness.on_rewritten`) drops every kept page.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from timetracker.projections.paging import BodyPage, with_page

# Kept bodies a process holds at most per read model: a list's pages of up to 100 rows, and
# the entries' (the most polled, 22 KB for 50 entries).
KEPT_LIST_BYTES = 4 * 1024 * 1024
KEPT_ENTRY_PAGE_BYTES = 16 * 1024 * 1024

_POSITION = b"SELECT position FROM projection_tracking WHERE name = %(read_model)s"


@dataclass(frozen=True)
class _Kept:
    position: int
    rewrites: int
    page: BodyPage


class KeptPages:
    """The pages of one read model's lists kept in this process, at most `max_bytes` of
    bodies (the pages asked for longest ago go first)."""

    def __init__(self, read_model: str, max_bytes: int) -> None:
        self.read_model = read_model
        self.max_bytes = max_bytes
        self.bytes = 0
        self._pages: OrderedDict[tuple[Any, ...], _Kept] = OrderedDict()
        self._statements: dict[bytes, bytes] = {}
        self._rewrites = 0  # counts `forget` calls: a page read before one is not kept after

    def __len__(self) -> int:
        return len(self._pages)

    def forget(self) -> None:
        """Drop every kept page: the read model changed without its position moving forward."""
        self._rewrites += 1
        self._pages.clear()
        self.bytes = 0

    async def fetch(
        self,
        pool: AsyncConnectionPool[Any],
        statement: bytes,
        params: dict[str, Any],
        page: int,
        per_page: int,
        shown: int | None = None,
    ) -> BodyPage:
        """A page of bodies and the total, by a statement made by `paging.bodies_statement`:
        the kept page while the read model has not moved, else read (and kept).

        `shown` is the read model's position as this process has heard it, if known: when
        it is past the kept page's, the page is read without checking the position first.
        """
        key = (statement, tuple(params.items()), page, per_page)
        kept, rewrites = self._pages.get(key), self._rewrites
        params = {**params, "read_model": self.read_model}
        async with pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            if kept is not None and (shown is None or shown <= kept.position):
                await cursor.execute(_POSITION, params)
                found = await cursor.fetchone()
                if found is not None and found[0] == kept.position and kept.rewrites == rewrites:
                    self._pages.move_to_end(key)
                    return kept.page
            await cursor.execute(
                with_page(self._positioned(statement), per_page, (page - 1) * per_page), params
            )
            row = await cursor.fetchone()
        assert row is not None
        read = BodyPage(json=row[0].encode(), total=int(row[1]))
        if row[2] is not None and rewrites == self._rewrites:
            self._keep(key, _Kept(int(row[2]), rewrites, read))
        return read

    def _positioned(self, statement: bytes) -> bytes:
        """`statement` with the read model's position as a third column, in its snapshot."""
        positioned = self._statements.get(statement)
        if positioned is None:
            positioned = b"SELECT s.*, (" + _POSITION + b") FROM (" + statement + b") s"
            self._statements[statement] = positioned
        return positioned

    def _keep(self, key: tuple[Any, ...], kept: _Kept) -> None:
        size = len(kept.page.json)
        if size > self.max_bytes:
            return
        old = self._pages.pop(key, None)
        if old is not None:
            self.bytes -= len(old.page.json)
        self._pages[key] = kept
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, dropped = self._pages.popitem(last=False)
            self.bytes -= len(dropped.page.json)
