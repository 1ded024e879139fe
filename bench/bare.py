"""The HTTP stack's ceiling: a bare aiohttp app that answers GET /bare/{size} with a JSON body
of about `size` bytes (a list of entry-like objects encoded with orjson on every request, as
the service encodes its answers), no middleware, no I/O.

    python -m bench.bare --port 8090 --workers 2     # N processes sharing the port
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
from typing import Any

import orjson
from aiohttp import web

_bodies: dict[int, Any] = {}


def body_of_size(size: int) -> Any:
    """An object whose JSON encoding is about `size` bytes long."""
    found = _bodies.get(size)
    if found is not None:
        return found
    items: list[dict[str, Any]] = []
    body: dict[str, Any] = {"items": items, "pagination": {"page": 1, "per_page": 50}}
    while len(orjson.dumps(body)) < size:
        n = len(items) + 1
        items.append(
            {
                "id": n,
                "project_id": n % 20 + 1,
                "start_time": "2024-01-15T09:00:00Z",
                "notes": "Bench entry",
                "billable": True,
                "duration_hours": 1.25,
            }
        )
    overshoot = len(orjson.dumps(body)) - size
    if items and overshoot > 0:
        items[-1]["notes"] = items[-1]["notes"][: max(0, len(items[-1]["notes"]) - overshoot)]
    _bodies[size] = body
    return body


async def bare(request: web.Request) -> web.Response:
    size = int(request.match_info["size"])
    return web.Response(body=orjson.dumps(body_of_size(size)), content_type="application/json")


def serve(port: int) -> None:
    app = web.Application()
    app.router.add_get("/bare/{size}", bare)
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, print=None)


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG (Linux)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.workers == 1:
        serve(args.port)
        return 0
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.bare", "--port", str(args.port)],
            preexec_fn=_die_with_parent,
        )
        for _ in range(args.workers)
    ]

    def stop(signum: int, frame: object) -> None:
        for child in children:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.wait()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
