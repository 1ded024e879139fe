"""A catalogue of hostile requests (SEC-3, FZ-2) for every write endpoint, id and filter.

Each request must get a 4xx with the error body and write nothing. Shared by the API test
(which counts events) and the e2e test that watches a real server's memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote

MIB = 1024 * 1024
DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE_NUMBER = b"9" * 100_000
MILLION = "x" * 1_000_000
BAD_MOMENTS = [
    "2023-02-29T09:00:00Z",
    "2024-02-30T09:00:00Z",
    "2024-13-01T09:00:00Z",
    "2024-01-15T24:00:00Z",
    "2024-01-15T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2024-01-15T09:00:00+25:00",
]
HOSTILE_IDS = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2f",
    "1;DROP%20TABLE%20timetracking_events",
    "1'%20OR%20'1'='1",
    "1%20OR%201=1--",
    "%7B%7B7*7%7D%7D",
    "1%00",
    "-1",
    "9" * 10_000,
]
HOSTILE_VALUES = [
    "' OR 1=1--",
    "1;DROP TABLE timetracking_events",
    "../../etc/passwd",
    "{{7*7}}",
    "\u0000",
    "9" * 5000,
]


@dataclass(frozen=True)
class Hostile:
    label: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def catalogue(project: int, entry: int, task: int, client: int) -> list[Hostile]:
    """Hostile requests against existing resources of the caller (nothing must change)."""
    writes = {
        ("POST", "/api/v1/projects"): {"name": "n"},
        ("PATCH", f"/api/v1/projects/{project}"): {"name": "n"},
        ("POST", "/api/v1/clients"): {"name": "n"},
        ("PATCH", f"/api/v1/clients/{client}"): {"name": "n"},
        ("POST", "/api/v1/tasks"): {"project_id": project, "name": "n"},
        ("PATCH", f"/api/v1/tasks/{task}"): {"name": "n"},
        ("POST", "/api/v1/time-entries"): {
            "project_id": project,
            "start_time": "2024-01-15T09:00:00Z",
            "end_time": "2024-01-15T10:00:00Z",
        },
        ("PATCH", f"/api/v1/time-entries/{entry}"): {"notes": "n"},
        ("POST", "/api/v1/timer/start"): {"project_id": project},
        ("POST", f"/api/v1/time-entries/{entry}/revert"): {"version": 1},
    }
    found: list[Hostile] = []
    for (method, path), good in writes.items():
        key = next(iter(good))
        cases = [
            ("depth 100,000", DEEP),
            ("depth 100,000 in a field", b'{"%s": ' % key.encode() + DEEP + b"}"),
            ("2 MiB", _json({**good, "notes": "x" * (2 * MIB)})),
            ("10^5 digits", b'{"%s": ' % key.encode() + HUGE_NUMBER + b"}"),
            ("NaN", b'{"%s": NaN}' % key.encode()),
            ("Infinity", b'{"%s": Infinity}' % key.encode()),
            ("-Infinity", b'{"%s": -Infinity}' % key.encode()),
            ("NUL", _json({**good, key: "a\u0000b"})),
            ("lone surrogate", b'{"%s": "\\ud800"}' % key.encode()),
            ("10^6 characters", _json({**good, key: MILLION})),
            (
                "duplicate keys",
                b'{"%s": 1, "%s": "x", "user_id": 1, "user_id": 2}' % (key.encode(), key.encode()),
            ),
            ("array of objects", _json([good] * 1000)),
        ]
        for text in ("name", "notes", "description", "address"):
            if text in good or method == "PATCH":
                cases.append((f"{text}: 10^6 characters", _json({**good, text: MILLION})))
        if "start_time" in good or path.endswith(f"/time-entries/{entry}"):
            for moment in BAD_MOMENTS:
                cases.append((f"start_time {moment}", _json({**good, "start_time": moment})))
                cases.append((f"end_time {moment}", _json({**good, "end_time": moment})))
        found += [Hostile(f"{method} {path}: {label}", method, path, body) for label, body in cases]
    # Writes that take no body ignore one, whatever it holds; these still change nothing.
    for method, path in (
        ("POST", "/api/v1/timer/stop"),
        ("POST", f"/api/v1/time-entries/{entry}/restore"),
        ("DELETE", "/api/v1/projects/99"),
        ("POST", "/api/v1/admin/projections/..%2F..%2Fetc/rebuild"),
    ):
        found.append(Hostile(f"{method} {path}: deep body", method, path, DEEP))
        found.append(Hostile(f"{method} {path}: 2 MiB", method, path, b" " * (2 * MIB)))
    routes = ["projects", "clients", "tasks", "time-entries"]
    for bad in HOSTILE_IDS:
        for collection in routes:
            for method in ("GET", "PUT", "PATCH", "DELETE"):
                body = _json({"name": "x"}) if method in ("PUT", "PATCH") else None
                path = f"/api/v1/{collection}/{bad}"
                found.append(Hostile(f"{method} {path[:60]}", method, path, body))
            found.append(
                Hostile(f"history {bad[:20]}", "GET", f"/api/v1/{collection}/{bad}/history")
            )
        for action in ("restore", "revert"):
            path = f"/api/v1/time-entries/{bad}/{action}"
            found.append(Hostile(f"{action} {bad[:20]}", "POST", path, _json({"version": 1})))
    filters = {
        "/api/v1/projects": ["status", "client_id", "page", "per_page"],
        "/api/v1/clients": ["status", "page"],
        "/api/v1/tasks": ["status", "project_id"],
        "/api/v1/time-entries": ["project_id", "user_id", "start_date", "end_date", "billable"],
        "/api/v1/reports/summary": [
            *("start_date", "end_date", "project_id", "user_id", "as_of"),
            *("group_by", "tz", "client_id", "task_id", "billable"),  # a tag is any text
        ],
        "/api/v1/reports/summary/export": ["format", "group_by", "tz"],
        "/api/v1/time-entries/export": ["format", "tz", "start_date", "client_id"],
        "/api/v1/events": ["after", "limit", "type", "resource"],
        f"/api/v1/projects/{project}": ["as_of"],
    }
    for path, names in filters.items():
        for name in names:
            for value in HOSTILE_VALUES:
                query = f"{path}?{name}={quote(value)}"
                found.append(Hostile(f"GET {path} {name}={value[:20]!r}", "GET", query))
    good_entry = writes[("PATCH", f"/api/v1/time-entries/{entry}")]
    for label, headers in (
        ("Idempotency-Key of 10,000", {"Idempotency-Key": "k" * 10_000}),
        ("Idempotency-Key with a space", {"Idempotency-Key": "a b"}),
        ("If-Match SQL", {"If-Match": "'1' OR 1=1"}),
        ("If-Match huge", {"If-Match": '"' + "9" * 5000 + '"'}),
    ):
        method = "POST" if "Idempotency" in label else "PATCH"
        path = "/api/v1/projects" if method == "POST" else f"/api/v1/time-entries/{entry}"
        body = _json({"name": "n"} if method == "POST" else good_entry)
        found.append(Hostile(label, method, path, body, headers))
    return found
