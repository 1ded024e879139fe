"""One Redis script, called over a connection of its own with many calls in flight at once.

Calling a Lua script through the Redis client costs about 110 µs of this process's CPU a
call at 32 concurrent requests (a connection taken from the pool and given back, the
command packed, a retry wrapper, the reply read and parsed, each per call): 15% of a list
read. The rate limiter calls one script on every request, and the reads of Redis read
models one or two (their positions, their values), so each such script keeps one connection
(opened by the client, with its authentication and database) and writes each call to it
as it comes, without waiting for the calls before it; one reader takes the replies off the
connection in order (Redis answers in the order it was asked) and hands each to its
caller: 20-30 µs a call.

A lost connection fails every call in flight with the client's `ConnectionError`, and so
does a call not answered in time (it raises `TimeoutError`, and the connection is closed);
the next call opens a new one. A caller that stops waiting (cancelled) has its reply read
and dropped. A script Redis does not know (after a restart or `SCRIPT FLUSH`) is
loaded and the call sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

READ_BYTES = 65536
# How long a caller waits for its reply by default, as the service's Redis client waits on
# its socket (`http/app.py`).
REDIS_WAIT_SECONDS = 2.0
DRAIN_ABOVE_BYTES = 65536  # wait for the socket to take the calls once this many are queued


def _command(*parts: bytes) -> bytes:
    """One command in the Redis protocol (RESP): an array of bulk strings."""
    encoded = [b"*%d\r\n" % len(parts)]
    for part in parts:
        encoded.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(encoded)


class _Link:
    """An open connection, the calls sent on it not yet answered, and its reader."""

    def __init__(self, connection: AbstractConnection) -> None:
        self.connection = connection
        # The client's connection object opened it (authentication, database, TLS); its
        # streams are used directly from here on.
        assert connection._reader is not None and connection._writer is not None
        self.reader: asyncio.StreamReader = connection._reader
        self.writer: asyncio.StreamWriter = connection._writer
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.reading: asyncio.Task[None] | None = None


class PipelinedScript:
    """Runs `script` for every caller of `run`, pipelined on one connection of its own."""

    def __init__(self, redis: Redis, script: str) -> None:
        self.redis = redis
        self.script = redis.register_script(script)
        self._sha = str(self.script.sha).encode()
        self._text = script.encode()
        self._link: _Link | None = None
        self._opening: asyncio.Lock | None = None
        self._loading: asyncio.Future[Any] | None = None

    async def run(self, keys: Sequence[str], args: Sequence[Any], timeout: float) -> Any:
        """The script's reply for `keys` and `args`; its error reply raised as
        `ResponseError`; `ConnectionError` when the connection fails; `TimeoutError` when
        no reply comes within `timeout` seconds (the connection is then closed: Redis has
        stopped answering on it, and the calls in flight on it fail)."""
        deadline = asyncio.get_running_loop().time() + timeout
        parts = [
            b"EVALSHA",
            self._sha,
            b"%d" % len(keys),
            *(key.encode() for key in keys),
            *(str(a).encode() for a in args),
        ]
        reply = await self._call(_command(*parts), deadline)
        if isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT"):
            await self._load(deadline)
            reply = await self._call(_command(*parts), deadline)
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def _load(self, deadline: float) -> None:
        """Load the script on the same connection; callers that found it unknown together
        wait for one load."""
        if self._loading is None or self._loading.done():
            load = _command(b"SCRIPT", b"LOAD", self._text)
            self._loading = asyncio.ensure_future(self._call(load, deadline))
        loaded = await asyncio.shield(self._loading)
        if isinstance(loaded, ResponseError):
            raise loaded

    async def close(self) -> None:
        """Close the connection (calls in flight fail)."""
        if self._link is not None:
            await self._drop(self._link, RedisConnectionError("closed"))

    async def _call(self, command: bytes, deadline: float) -> Any:
        async with asyncio.timeout_at(deadline):
            link = self._link if self._link is not None else await self._open()
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        link.waiting.append(answer)
        link.writer.write(command)
        try:
            async with asyncio.timeout_at(deadline):
                if link.writer.transport.get_write_buffer_size() > DRAIN_ABOVE_BYTES:
                    await link.writer.drain()
                return await answer
        except TimeoutError:
            # Not kept: calls would pile up, unanswered, on a connection Redis has stopped
            # reading (paused, or its host gone without a word).
            await self._drop(link, RedisConnectionError("Redis did not answer in time"))
            raise

    async def _open(self) -> _Link:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:  # one connection, however many callers found none
            if self._link is not None:
                return self._link
            connection = self.redis.connection_pool.make_connection()  # type: ignore[no-untyped-call]
            await connection.connect()
            link = _Link(connection)
            link.reading = asyncio.get_running_loop().create_task(self._read(link))
            self._link = link
            return link

    async def _read(self, link: _Link) -> None:
        parser = hiredis.Reader(replyError=ResponseError)
        try:
            while True:
                data = await link.reader.read(READ_BYTES)
                if not data:
                    raise RedisConnectionError("Redis closed the connection")
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    answer = link.waiting.popleft()
                    if not answer.done():
                        answer.set_result(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every call in flight gets it
            failure = exc if isinstance(exc, RedisConnectionError) else RedisConnectionError(exc)
            await self._drop(link, failure)

    async def _drop(self, link: _Link, failure: Exception) -> None:
        if self._link is link:
            self._link = None
        while link.waiting:
            answer = link.waiting.popleft()
            if not answer.done():
                answer.set_exception(failure)
        if link.reading is not None and link.reading is not asyncio.current_task():
            link.reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await link.reading
        with contextlib.suppress(Exception):
            await link.connection.disconnect()
