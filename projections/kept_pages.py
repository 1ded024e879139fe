"""List pages a serving process keeps, each for the read-model position it shows.

A dashboard or an integration polling a list asks for the same page again and again while
nothing changes. A page read here is kept with the position of its read model read in the
same statement (one snapshot: the page is exactly what the read model held at that
position). Asked again while the read model's position is still no further than that, the
page is answered from memory: no query, nothing fetched, decoded or copied.

The position a read compares with (`shown`) is `Freshness.covering`'s: as this process has
heard it, and never behind a write another process has answered (read from the database
when news of that write has not reached this process yet), so a client that wrote through
another process sees its write in its next list (read-your-writes). A read without a
position (it could not be found out) reads the page.

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


@dataclass(frozen=True)
class _Kept:
    position: int
    page: BodyPage


class KeptPages:
    """The pages of one read model's lists kept in this process, at most `max_bytes` of
    bodies (the pages asked for longest ago go first)."""

    def __init__(self, read_model: str, max_bytes: int) -> None:
        self.read_model = read_model
        self.max_bytes = max_bytes
        self.bytes = 0
        self._pages: OrderedDict[tuple[Any, ...], _Kept] = OrderedDict()
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
        the kept page when it shows the read model at `shown` or later, else read (and
        kept). `shown`: the read model's position as `Freshness.covering` gives it."""
        key = (statement, tuple(params.items()), page, per_page)
        kept, rewrites = self._pages.get(key), self._rewrites
        if kept is not None and shown is not None and kept.position >= shown:
            self._pages.move_to_end(key)
            return kept.page
        async with pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            await cursor.execute(
                with_page(statement, per_page, (page - 1) * per_page),
                {**params, "read_model": self.read_model},
            )
            row = await cursor.fetchone()
        assert row is not None
        read = BodyPage(json=row[0].encode(), total=int(row[1]))
        if row[2] is not None and rewrites == self._rewrites:
            self._keep(key, _Kept(int(row[2]), read))
        return read

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
