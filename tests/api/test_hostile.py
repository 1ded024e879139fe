"""Hostile input on every write endpoint, id and filter (SEC-3, FZ-2): deep nesting, 2 MiB
bodies, 10^6-character strings, 10^5-digit numbers, NaN and Infinity, NUL, impossible
dates, path traversal and SQL in ids, filters and headers. Every one is a 4xx with the error
body, none a 5xx, and the store holds exactly the events it held before."""

from __future__ import annotations

import asyncio
import io
from collections import Counter

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, CountEvents
from tests.api.timekit import get_json, new_entry, new_project, new_task
from tests.hostile import Hostile, catalogue

CONCURRENCY = 16
LINE_LIMIT = 8190  # aiohttp's max_line_size and max_field_size


async def test_every_hostile_request_is_a_4xx_that_writes_nothing(
    api: TestClient, admin: ApiUser, count_events: CountEvents
) -> None:
    project = await new_project(api, admin)
    task = await new_task(api, admin, project)
    entry = await new_entry(api, admin, project, "2024-01-15T09:00:00Z", "2024-01-15T10:00:00Z")
    made = await api.post("/api/v1/clients", json={"name": "C"}, headers=admin.headers)
    client = (await made.json())["client"]["id"]
    before = await count_events()
    requests = catalogue(project, entry["id"], task["id"], client)
    assert len(requests) > 500

    async def send(hostile: Hostile) -> tuple[str, int, str]:
        headers = {**admin.headers, "Content-Type": "application/json", **hostile.headers}
        headers["X-Request-ID"] = "bad id ' OR 1=1"
        response = await api.request(
            hostile.method,
            hostile.path,
            data=None if hostile.body is None else io.BytesIO(hostile.body),
            headers=headers,
        )
        if response.content_type != "application/json":
            # aiohttp's own parser refuses a request line or header over 8 KiB before the app
            # sees it: a plain-text 400, the one answer without the JSON error body.
            longest = max([len(hostile.path), *map(len, hostile.headers.values())])
            assert (response.status, longest > LINE_LIMIT) == (400, True), hostile.label
            return hostile.label, response.status, "parser"
        body = await response.json()
        assert response.headers["X-Request-ID"] != headers["X-Request-ID"]
        return hostile.label, response.status, body.get("error_code", "")

    answers: list[tuple[str, int, str]] = []
    for start in range(0, len(requests), CONCURRENCY):
        chunk = requests[start : start + CONCURRENCY]
        answers += await asyncio.gather(*[send(h) for h in chunk])

    assert [a for a in answers if not 400 <= a[1] < 500 or not a[2]] == []
    statuses = Counter(status for _, status, _ in answers)
    assert set(statuses) <= {400, 404, 405, 409, 413}, statuses
    assert statuses[413] >= 10 and statuses[400] >= 300, statuses
    assert await count_events() == before
    assert (await get_json(api, f"/api/v1/time-entries/{entry['id']}", admin))["time_entry"] == (
        entry
    )
