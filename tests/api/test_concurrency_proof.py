"""ES-1 under load: 50 users start and stop timers and edit entries all at once, three rounds
of 1,000 concurrent requests. Every 2xx is exactly one commit of the events its kind of
write makes, every 409 is none; streams stay gapless; no user ever runs two timers at any
position of the log; and every read model equals a fresh replay of the log."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser
from tests.api.helpers import instant
from tests.api.test_rate_limits import _user
from tests.api.timekit import ENTRIES, EVERYTHING, TIMER
from tests.proof import (
    by_request,
    double_timers,
    gapless_versions,
    kinds,
    read_log,
    timers_agree,
    verify_everything,
    wait_caught_up,
)
from timetracker.http.keys import time_tracking_key
from timetracker.http.settings import Settings

ApiWith = Callable[..., Awaitable[TestClient]]
USERS = 50
ROUNDS = 3
SEED = 20240115
# Per user and round: what is sent, all at once with everyone else's.
PLAN = ["start"] * 6 + ["stop"] * 6 + ["notes"] * 4 + ["end"] * 2 + ["record"] * 2


@dataclass
class Sent:
    """One request and what came back."""

    request_id: str
    kind: str
    user: ApiUser
    status: int = 0
    body: Any = None


@dataclass
class Known:
    """What the test knows of a user's entries (ids and start times) from earlier answers."""

    entries: dict[int, str]


async def _send(api: TestClient, sent: Sent, project: int, known: Known, n: int) -> None:
    headers = {**sent.user.headers, "X-Request-ID": sent.request_id}
    ids = sorted(known.entries)
    if sent.kind == "start":
        response = await api.post(f"{TIMER}/start", json={"project_id": project}, headers=headers)
    elif sent.kind == "stop":
        response = await api.post(f"{TIMER}/stop", headers=headers)
    elif sent.kind == "notes":
        entry = ids[n % len(ids)]
        body = {"notes": f"note {sent.request_id}"}
        response = await api.patch(f"{ENTRIES}/{entry}", json=body, headers=headers)
    elif sent.kind == "end":
        entry = ids[-1 - n % min(2, len(ids))]  # the latest: often still running
        end = instant(known.entries[entry]) + timedelta(seconds=3600 + n)
        body = {"end_time": end.isoformat()}
        response = await api.patch(f"{ENTRIES}/{entry}", json=body, headers=headers)
    else:
        day = 1 + n % 28
        body = {
            "project_id": project,
            "start_time": f"2023-02-{day:02d}T{n % 24:02d}:00:00Z",
            "end_time": f"2023-02-{day:02d}T{n % 24:02d}:{1 + n % 59:02d}:00Z",
            "notes": sent.request_id,
        }
        response = await api.post(ENTRIES, json=body, headers=headers)
    sent.status = response.status
    sent.body = await response.json()


def _expected(sent: Sent) -> list[list[str]]:
    """The event kinds (in commit order) a request of this kind and status may have written."""
    if sent.status == 409:
        return [[]]
    start = ["Entry.Created", "Timer.Started"]
    return {
        ("start", 201): [start, ["Entry.Created", "Timer.Created", "Timer.Started"]],
        ("stop", 200): [["Timer.Stopped", "Entry.Edited"]],
        ("notes", 200): [["Entry.Edited"]],
        ("end", 200): [["Entry.Edited"], ["Entry.Edited", "Timer.Stopped"]],
        ("record", 201): [["Entry.Created"]],
    }.get((sent.kind, sent.status), [])


async def test_fifty_users_racing_timers_and_edits_lose_and_duplicate_nothing(
    api_with: ApiWith, settings: Settings
) -> None:
    api = await api_with(db_pool_size=8, read_pool_size=8)
    rng = random.Random(SEED)
    boss = await _user(api, "boss", EVERYTHING)
    created = await api.post("/api/v1/projects", json={"name": "Load"}, headers=boss.headers)
    project = (await created.json())["project"]["id"]
    users = await asyncio.gather(*[_user(api, f"user{n}", EVERYTHING) for n in range(USERS)])
    known: dict[int, Known] = {}
    for user in users:
        first = await api.post(
            ENTRIES,
            json={
                "project_id": project,
                "start_time": "2023-01-02T09:00:00Z",
                "end_time": "2023-01-02T10:00:00Z",
            },
            headers=user.headers,
        )
        entry = (await first.json())["time_entry"]
        known[user.id] = Known({entry["id"]: entry["start_time"]})

    store = api.app[time_tracking_key]
    setup = len(read_log(store))
    everything: list[Sent] = []
    for round_ in range(ROUNDS):
        batch = [
            Sent(f"r{round_}-u{user.id}-{n}", kind, user)
            for user in users
            for n, kind in enumerate(PLAN)
        ]
        rng.shuffle(batch)
        await asyncio.gather(
            *[_send(api, sent, project, known[sent.user.id], rng.randrange(1000)) for sent in batch]
        )
        for sent in batch:
            assert sent.status in (200, 201, 409), (sent.request_id, sent.kind, sent.body)
            if sent.status == 409:
                assert sent.body["error_code"] in (
                    "timer_already_running",
                    "no_active_timer",
                    "conflict",
                ), sent.body
            entry = (sent.body or {}).get("timer") or (sent.body or {}).get("time_entry")
            if entry and "start_time" in entry:
                known[sent.user.id].entries[entry["id"]] = entry["start_time"]
        statuses = Counter((s.kind, s.status) for s in batch)
        # the race was real: each kind of request both won and lost somewhere
        assert statuses[("start", 201)] >= 1 and statuses[("start", 409)] >= USERS, statuses
        assert statuses[("stop", 200)] >= 1 and statuses[("stop", 409)] >= 1, statuses
        everything += batch

    log = read_log(store)
    caused = by_request(log)
    unexplained = []
    for sent in everything:
        events = caused.pop(sent.request_id, [])
        if kinds(events) not in _expected(sent):
            unexplained.append((sent.request_id, sent.kind, sent.status, kinds(events)))
        elif events:
            # one commit: consecutive positions, nothing of anyone else's in between
            first = events[0].position
            assert [e.position for e in events] == list(range(first, first + len(events)))
            if sent.kind == "start":
                assert events[0].event.number == sent.body["timer"]["id"]
    assert unexplained == []
    # Every other event is one of the setup's: users, tokens, the project, the first entries.
    assert sum(len(events) for events in caused.values()) == setup

    wins = Counter(s.kind for s in everything if s.status in (200, 201))
    assert wins["notes"] + wins["record"] >= USERS * ROUNDS, wins
    versions = gapless_versions(settings.conninfo)
    assert versions["broken"] == {}
    assert versions["streams"] > USERS * 4
    assert double_timers(log) == []
    assert timers_agree(log) == []

    assert settings.redis_url is not None
    reached = wait_caught_up(settings.conninfo, settings.redis_url, settings.redis_prefix, 30.0)
    assert set(reached.values()) == {log[-1].position}, reached
    mismatches = verify_everything(
        store, settings.conninfo, settings.redis_url, settings.redis_prefix
    )
    assert mismatches == {name: [] for name in mismatches}
