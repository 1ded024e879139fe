"""The access log: a line per request, in the serve log's format, a loop turn's lines at once."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from timetracker.http.access_log import LINES, AccessLog

LINE = re.compile(
    r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO aiohttp\.access: 127\.0\.0\.1 "GET /slow\?n=(\d+)"'
    r" 200 \d+ \d+\.\dms -$"
)


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    LINES.stream = stream
    yield stream
    LINES.stream = None


async def _client(level: int) -> TestClient:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.01)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/slow", slow)
    logging.getLogger("aiohttp.access").setLevel(level)
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLog)
    client = TestClient(server)
    await client.start_server()
    return client


async def test_each_request_gets_a_line_in_the_serve_log_format(written: io.StringIO) -> None:
    client = await _client(logging.INFO)
    try:
        answers = await asyncio.gather(*(client.get(f"/slow?n={n}") for n in range(10)))
        assert all(answer.status == 200 for answer in answers)
        await asyncio.sleep(0)  # the loop turn's lines are written at its end
    finally:
        await client.close()
        logging.getLogger("aiohttp.access").setLevel(logging.NOTSET)
    lines = written.getvalue().splitlines()
    numbers = sorted(int(match.group(1)) for line in lines if (match := LINE.match(line)))
    assert numbers == list(range(10)), lines


async def test_nothing_is_written_below_info(written: io.StringIO) -> None:
    client = await _client(logging.WARNING)
    try:
        assert (await client.get("/slow?n=1")).status == 200
        await asyncio.sleep(0)
    finally:
        await client.close()
        logging.getLogger("aiohttp.access").setLevel(logging.NOTSET)
    assert written.getvalue() == ""
