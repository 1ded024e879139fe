"""ES-2: `timetracker serve` killed with SIGKILL at random moments during thousands of writes.

Clients log every write with its outcome: acknowledged (2xx), refused (4xx), or unknown
(the answer never came; a 5xx answer fails the test). Each write carries its own
X-Request-ID, which its events record, and an Idempotency-Key. After the last restart: every
acknowledged write is in the log exactly once, as one whole commit; no refused write is; an
unknown one is at most once; streams are gapless, no user ever ran two timers, and every read
model, caught up, equals a fresh replay of the log.
"""

from __future__ import annotations

import http.client
import json
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.service import Server, call
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
from timetracker.commands.application import open_time_tracking
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token, register_user

pytestmark = pytest.mark.e2e
SEED = 4242
KILLS = 4
RECORDERS = 16
TIMER_USERS = 4
EXPECTED = {
    "record": [["Entry.Created"]],
    "start": [
        ["Entry.Created", "Timer.Started"],
        ["Entry.Created", "Timer.Created", "Timer.Started"],
    ],
    "stop": [["Timer.Stopped", "Entry.Edited"]],
}


@dataclass
class Write:
    """One write and what became of it."""

    request_id: str
    kind: str
    outcome: str = "unknown"  # acknowledged | refused | unknown
    status: int | None = None
    notes: str | None = None


def _send(port: int, token: str, write: Write, body: dict[str, Any] | None, path: str) -> None:
    """POST once; record the outcome (a connection lost or refused leaves it unknown)."""
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Request-ID": write.request_id,
        "Idempotency-Key": write.request_id,
        "Content-Type": "application/json",
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, json.dumps(body or {}).encode(), headers)
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        return
    finally:
        connection.close()
    write.status = response.status
    if 200 <= response.status < 300:
        write.outcome = "acknowledged"
    elif 400 <= response.status < 500:
        write.outcome = "refused"


def _load(
    server: Server, tokens: dict[str, str], project: int, stop: threading.Event
) -> list[Write]:
    """Writers in threads until `stop`: recorders create entries, timer users start and stop."""
    writes: list[Write] = []
    lock = threading.Lock()

    def record(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            write = Write(f"crash-r{worker}-{n}", "record", notes=f"crash-r{worker}-{n}")
            minute = n % 60
            body = {
                "project_id": project,
                "start_time": f"2024-05-{1 + worker:02d}T{n // 60 % 24:02d}:{minute:02d}:00Z",
                "end_time": f"2024-05-{1 + worker:02d}T{n // 60 % 24:02d}:{minute:02d}:30Z",
                "notes": write.notes,
            }
            _send(server.port, tokens["admin"], write, body, "/api/v1/time-entries")
            with lock:
                writes.append(write)
            if write.outcome == "unknown":
                time.sleep(0.05)

    def toggle(user: str) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            kind = "start" if n % 2 else "stop"
            write = Write(f"crash-{user}-{n}", kind)
            if kind == "start":
                body = {"project_id": project}
                _send(server.port, tokens[user], write, body, "/api/v1/timer/start")
            else:
                _send(server.port, tokens[user], write, None, "/api/v1/timer/stop")
            with lock:
                writes.append(write)
            if write.outcome == "unknown":
                time.sleep(0.05)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(RECORDERS)]
    threads += [threading.Thread(target=toggle, args=(u,)) for u in tokens if u != "admin"]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(timeout=30)
    return writes


def test_sigkill_during_thousands_of_writes_loses_and_duplicates_nothing(
    configured_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    env = {**configured_env, "RATE_LIMIT_PER_MINUTE": "0", "RATE_LIMIT_PER_HOUR": "0"}
    server = Server(env, tmp_path)
    store = open_time_tracking(settings.event_store_env())
    try:
        server.start()
        admin = server.admin_token()
        assert admin is not None, server.output()
        tokens = {"admin": admin}
        for n in range(TIMER_USERS):
            register_user(store, f"timer{n}", None, None, False)
            tokens[f"timer{n}"] = issue_token(store, f"timer{n}", ["write:*"], "t", None).token
        made = call("POST", f"{server.base_url}/api/v1/projects", admin, {"name": "Crash"})
        assert made.status == 201, made.body
        project = made.body["project"]["id"]
        me = call("GET", f"{server.base_url}/api/v1/users/me", admin)
        assert me.status == 200

        stop = threading.Event()
        found: list[list[Write]] = []
        loader = threading.Thread(target=lambda: found.append(_load(server, tokens, project, stop)))
        loader.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(2.0, 3.5))
            assert server.process is not None
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=10)
            server.start()
        time.sleep(2.0)
        stop.set()
        loader.join(timeout=60)
        (writes,) = found

        outcomes = Counter((w.kind, w.outcome) for w in writes)
        statuses = Counter(w.status for w in writes)
        acknowledged = [w for w in writes if w.outcome == "acknowledged"]
        assert len(acknowledged) >= 300 and len(writes) >= 1500, (outcomes, statuses)
        print(f"crash: {len(writes)} writes, {outcomes}")
        assert sum(1 for w in writes if w.outcome == "unknown") >= KILLS, outcomes
        assert {w.status for w in writes if w.outcome == "refused"} <= {409}, statuses
        failed = [w for w in writes if w.status is not None and w.status >= 500]
        assert not failed, f"server errors are faults, not unknown outcomes: {statuses}"

        assert settings.redis_url is not None
        reached = wait_caught_up(settings.conninfo, settings.redis_url, settings.redis_prefix, 30)
        log = read_log(store)
        assert set(reached.values()) == {log[-1].position}, reached
        caused = by_request(log)
        wrong = []
        for write in writes:
            events = kinds(caused.get(write.request_id, []))
            allowed = {
                "acknowledged": EXPECTED[write.kind],
                "refused": [[]],
                "unknown": [[], *EXPECTED[write.kind]],
            }[write.outcome]
            if events not in allowed:
                wrong.append((write, events))
            elif events:
                positions = [e.position for e in caused[write.request_id]]
                assert positions == list(range(positions[0], positions[0] + len(positions)))
        assert wrong == []
        ours = {w.request_id for w in writes}
        assert {r for r in caused if r.startswith("crash-")} <= ours

        with psycopg.connect(settings.conninfo) as conn:
            rows = conn.execute(
                "SELECT notes, count(*) FROM time_entries WHERE notes LIKE 'crash-%%'"
                " GROUP BY notes"
            ).fetchall()
        listed = dict(rows)
        for write in writes:
            if write.kind != "record":
                continue
            count = listed.get(write.notes, 0)
            expected = {"acknowledged": {1}, "refused": {0}, "unknown": {0, 1}}[write.outcome]
            assert count in expected, (write, count)
        assert gapless_versions(settings.conninfo)["broken"] == {}
        assert double_timers(log) == []
        assert timers_agree(log) == []
        mismatches = verify_everything(
            store, settings.conninfo, settings.redis_url, settings.redis_prefix
        )
        assert mismatches == {name: [] for name in mismatches}
    finally:
        server.kill()
        store.close()
