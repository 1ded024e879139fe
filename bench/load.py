"""A small HTTP/1.1 load generator on asyncio streams: keep-alive connections, prebuilt requests.

Each connection sends one request at a time (closed loop) and asks its own source for the
next one, so a scenario can give each connection users of its own (a timer start and its
stop never race). Latencies are recorded per request after a warm-up; any status other than
the expected ones, and any broken connection, counts as an error. With `rate`, the
connections together send about that many requests per second (paced, for measuring
latency below saturation) instead of as many as they can.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

# What a connection sends next: the request's bytes and the statuses that count as success.
Next = Callable[[], tuple[bytes, frozenset[int]]]
SourceFactory = Callable[[int], Next]
STALE_HEADER = b"\r\nx-read-your-writes: timeout"


def build_request(
    method: str,
    path: str,
    port: int,
    token: str | None = None,
    body: Any = None,
) -> bytes:
    """The bytes of one HTTP/1.1 keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    payload = b""
    if body is not None:
        payload = orjson.dumps(body)
        lines.append("Content-Type: application/json")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """Status, header block (lower-cased) and body of one response."""
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        end = head.index(b"\r\n", at + 2)
        body = await reader.readexactly(int(head[at + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in head:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        body = b"".join(chunks)
    else:
        body = b""
    return status, head, body


@dataclass
class Outcome:
    """What one load phase measured."""

    name: str
    connections: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    stale: int = 0  # writes answered before their read models caught up
    error_kinds: Counter[str] = field(default_factory=Counter)
    body_bytes: int = 0  # size of the last successful response body
    cpu_seconds: float = 0.0  # the load generator's own CPU time
    answered: int = 0  # every answer, warm-up included (to divide a server's CPU time by)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Latency at `fraction` (0.5, 0.99) in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] * 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "connections": self.connections,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "requests_per_second": round(self.rate, 1),
            "p50_ms": round(self.percentile(0.5), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2)
            if self.latencies
            else None,
            "errors": self.errors,
            "error_kinds": dict(self.error_kinds),
            "read_your_writes_timeouts": self.stale,
            "body_bytes": self.body_bytes,
            "load_generator_cpu_seconds": round(self.cpu_seconds, 2),
        }


async def drive(
    name: str,
    port: int,
    connections: int,
    source: SourceFactory,
    warmup: float,
    duration: float,
    rate: float | None = None,
) -> Outcome:
    """Run `connections` connections against 127.0.0.1:`port`; measure after `warmup`."""
    outcome = Outcome(name, connections)
    started = time.perf_counter()
    measure_from = started + warmup
    until = measure_from + duration
    interval = connections / rate if rate else 0.0

    async def connection(index: int) -> None:
        next_request = source(index)
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        due = started + (interval * index / connections if interval else 0.0)
        while True:
            now = time.perf_counter()
            if now >= until:
                break
            if interval:
                if due > now:
                    await asyncio.sleep(due - now)
                due += interval
            raw, expected = next_request()
            sent = time.perf_counter()
            if sent >= until:
                break
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                assert reader is not None
                writer.write(raw)
                status, head, body = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                if sent >= measure_from:
                    outcome.errors += 1
                    outcome.error_kinds[type(exc).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
                continue
            done = time.perf_counter()
            outcome.answered += 1
            if b"\r\nconnection: close" in head:
                writer.close()
                reader = writer = None
            if sent < measure_from:
                continue
            if status in expected:
                outcome.latencies.append(done - sent)
                outcome.body_bytes = len(body)
                if STALE_HEADER in head:
                    outcome.stale += 1
            else:
                outcome.errors += 1
                outcome.error_kinds[str(status)] += 1
        if writer is not None:
            writer.close()

    cpu = time.process_time()
    await asyncio.gather(*(connection(i) for i in range(connections)))
    outcome.cpu_seconds = time.process_time() - cpu
    outcome.seconds = time.perf_counter() - measure_from
    return outcome
