"""The access log: one line per request, written without the logging module's machinery.

aiohttp's default logger formats an Apache-style line field by field (a local time with
`strftime` on every request, a dict of extras): about 8% of a read's CPU. Through
`logging` the line still cost 9% (a `LogRecord` with thread and process names, the
caller's frame looked up, the time formatted, a write and a flush, per request). So the
line is written here as the `serve` command's log writes every other line
(`ops/progress.py`'s `LOG_FORMAT`: `2026-12-07 05:38:49,123 INFO aiohttp.access: ...`, on
standard error), the lines of one turn of the event loop together at its end. It is
written only while the `aiohttp.access` logger is enabled for INFO.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TextIO

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from timetracker.http.keys import request_id_key


class _Lines:
    """The lines of this turn of the event loop (every connection's), written at its end."""

    def __init__(self) -> None:
        self.stream: TextIO | None = None  # standard error when None (looked up when written)
        self._lines: list[str] = []
        self._write_on: asyncio.AbstractEventLoop | None = None  # the loop to write them
        self._second = -1
        self._stamp = ""

    def add(self, text: str) -> None:
        """Write `text` as a line after the callbacks ready now have run."""
        loop = asyncio.get_running_loop()
        if self._write_on is not loop:  # none due yet, or due on a loop that has closed
            loop.call_soon(self._write)
            self._write_on = loop
        self._lines.append(f"{self._time()} {text}\n")

    def _time(self) -> str:
        """The local time as `logging` writes `asctime` (the seconds' text made once)."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int((now - second) * 1000):03d}"

    def _write(self) -> None:
        lines, self._lines, self._write_on = self._lines, [], None
        stream = self.stream or sys.stderr
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream loses the log, not requests
            pass


LINES = _Lines()


class AccessLog(AbstractAccessLogger):
    """`127.0.0.1 "GET /api/v1/projects" 200 5607 1.2ms <request id>` at INFO.

    aiohttp makes one per connection; their lines go out together (`LINES`).
    """

    @property
    def enabled(self) -> bool:
        """Whether lines are written: the logger's level, as with `logging`."""
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        LINES.add(
            f'INFO {self.logger.name}: {request.remote} "{request.method} {request.path_qs}"'
            f" {response.status} {response.body_length} {time * 1000:.1f}ms"
            f" {request.get(request_id_key, '-')}"
        )
