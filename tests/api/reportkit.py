"""Random time over a daylight-saving change, made through the API, and the reports it must
give, computed here independently of the service (Python's zoneinfo, exact fractions)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser, MakeUser
from tests.api.helpers import created
from tests.api.timekit import EVERYTHING, new_entry, new_project, new_task

BERLIN = ZoneInfo("Europe/Berlin")
# Berlin moves from CET (+01:00) to CEST (+02:00) at 01:00Z on 2024-03-31: that day has 23 hours.
WINDOW = "start_date=2024-03-25&end_date=2024-03-31"
WINDOW_START = datetime(2024, 3, 24, 23, 0, tzinfo=UTC)  # 00:00 CET on the 25th
WINDOW_END = datetime(2024, 3, 31, 22, 0, tzinfo=UTC)  # 00:00 CEST on April 1st
NOTES = ['=HYPERLINK("http://x")', "-2+3", "@SUM(A1)", "+1", 'a "quoted", note\nnext', None]
TAGS = [None, "a", "b", "a,b", "=cmd", "b,=cmd"]


@dataclass(frozen=True)
class Logged:
    """An entry as the independent computation sees it."""

    id: int
    user_id: int
    username: str
    project_id: int
    project_name: str
    client_id: int | None
    client_name: str | None
    task_id: int | None
    task_name: str | None
    start: datetime
    seconds: int
    billable: bool
    tags: tuple[str, ...]
    notes: str | None
    rate: Decimal

    @property
    def cents(self) -> int:
        """Billable seconds times the rate, in cents, rounded once, half up."""
        if not self.billable:
            return 0
        exact = Fraction(self.seconds) * Fraction(self.rate) / 36
        return int(exact + Fraction(1, 2))  # floor: exact is never negative

    def key(self, name: str) -> list[Any]:
        """The values of one grouping key (several for tags)."""
        local = self.start.astimezone(BERLIN)
        iso = local.isocalendar()
        return {
            "project": [self.project_id],
            "client": [self.client_id],
            "task": [self.task_id],
            "user": [self.user_id],
            "tag": list(self.tags) or [None],
            "day": [local.date().isoformat()],
            "week": [f"{iso.year}-W{iso.week:02d}"],
            "month": [local.strftime("%Y-%m")],
        }[name]


def hours(seconds: int) -> float:
    """As the API rounds: hundredths of an hour, halves up, once."""
    return ((seconds + 18) // 36) / 100


@dataclass
class Expected:
    """Sums of a group or of the totals."""

    seconds: int = 0
    billable: int = 0
    entries: int = 0
    cents: int = 0

    def add(self, entry: Logged) -> None:
        self.seconds += entry.seconds
        self.billable += entry.seconds if entry.billable else 0
        self.entries += 1
        self.cents += entry.cents

    def json(self) -> tuple[float, float, int, int]:
        return (hours(self.seconds), hours(self.billable), self.entries, self.cents)


def got(group: dict[str, Any]) -> tuple[float, float, int, int]:
    """A group's or a summary's sums as the API gave them (money back in cents)."""
    total = group.get("hours", group.get("total_hours"))
    entries = group.get("entries", group.get("total_entries"))
    return (total, group["billable_hours"], entries, round(group["billable_amount"] * 100))


def expected_groups(entries: Iterable[Logged], keys: tuple[str, ...]) -> dict[Any, Any]:
    """{key value: Expected} for one key, {outer: (Expected, {inner: Expected})} for two."""
    outer: dict[Any, Expected] = defaultdict(Expected)
    inner: dict[Any, dict[Any, Expected]] = defaultdict(lambda: defaultdict(Expected))
    for entry in entries:
        for first in entry.key(keys[0]):
            outer[first].add(entry)
            if len(keys) > 1:
                for second in entry.key(keys[1]):
                    inner[first][second].add(entry)
    if len(keys) == 1:
        return dict(outer)
    return {k: (outer[k], dict(inner[k])) for k in outer}


KEY_FIELD = {"project": "project_id", "client": "client_id", "task": "task_id", "user": "user_id"}


def key_of(group: dict[str, Any], key: str) -> Any:
    return group[KEY_FIELD.get(key, key)]


@dataclass
class World:
    """What `make_world` made: users, labels, and the entries in and around the window."""

    admin: ApiUser
    alice: ApiUser
    bob: ApiUser
    entries: list[Logged]
    projects: dict[str, int]

    def inside(self) -> list[Logged]:
        return [e for e in self.entries if WINDOW_START <= e.start < WINDOW_END]


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def make_world(api: TestClient, admin: ApiUser, make_user: MakeUser, count: int) -> World:
    """Clients with and without rates, projects with and without, tasks, two users and
    `count` random entries plus the ones on the edges of the zone's days."""
    rng = random.Random(20)
    alice = await make_user("alice", EVERYTHING)
    bob = await make_user("bob", EVERYTHING)
    acme = await created(
        api, "/api/v1/clients", {"name": "ACME", "default_hourly_rate": 80}, admin.headers
    )
    bare = await created(api, "/api/v1/clients", {"name": "=Bare"}, admin.headers)
    labels = [  # name, client, own rate, rate in force
        ("Site", acme, Decimal("100.5"), Decimal("100.5")),
        ("App", acme, None, Decimal("80")),
        ("Ops", bare, None, Decimal("0")),
        ("Odd", None, Decimal("33.333"), Decimal("33.333")),
    ]
    projects: dict[str, int] = {}
    facts: dict[int, tuple[str, dict[str, Any] | None, Decimal]] = {}
    for name, client, rate, in_force in labels:
        extra: dict[str, Any] = {}
        if client is not None:
            extra["client_id"] = client["id"]
        if rate is not None:
            extra["hourly_rate"] = float(rate)
        project = await new_project(api, admin, name, **extra)
        projects[name] = project
        facts[project] = (name, client, in_force)
    tasks = {
        projects["Site"]: await new_task(api, admin, projects["Site"], "Design"),
        projects["App"]: await new_task(api, admin, projects["App"], "Build"),
    }
    edges = [  # (start, minutes): the last minute of a Berlin day and the first of the next
        (datetime(2024, 3, 30, 22, 59, tzinfo=UTC), 1),  # 23:59 CET on the 30th
        (datetime(2024, 3, 30, 23, 0, tzinfo=UTC), 61),  # 00:00 CET on the 31st
        (datetime(2024, 3, 31, 0, 59, tzinfo=UTC), 2),  # 01:59 CET, the last minute of CET
        (datetime(2024, 3, 31, 1, 0, tzinfo=UTC), 7),  # 03:00 CEST
        (datetime(2024, 3, 31, 21, 59, tzinfo=UTC), 1),  # 23:59 CEST on the 31st
        (datetime(2024, 3, 31, 22, 0, tzinfo=UTC), 30),  # 00:00 CEST on April 1st: outside
        (datetime(2024, 3, 24, 22, 59, tzinfo=UTC), 5),  # 23:59 CET on the 24th: outside
    ]
    span = int((WINDOW_END - WINDOW_START).total_seconds()) + 6 * 3600
    for _ in range(count):
        start = WINDOW_START - timedelta(hours=3) + timedelta(seconds=rng.randrange(span))
        edges.append((start, rng.randrange(1, 240)))
    entries = []
    for number, (start, minutes) in enumerate(edges):
        user = (alice, bob)[number % 2]
        project = rng.choice(list(projects.values()))
        name, client, rate = facts[project]
        task = tasks.get(project) if rng.random() < 0.6 else None
        seconds = minutes * 60 + rng.randrange(60)
        tags = rng.choice(TAGS)
        notes = rng.choice(NOTES)
        billable = rng.random() < 0.7
        extra = {"billable": billable, "notes": notes, "tags": tags}
        if task is not None:
            extra["task_id"] = task["id"]
        body = await new_entry(
            api, user, project, _z(start), _z(start + timedelta(seconds=seconds)), **extra
        )
        entries.append(
            Logged(
                id=body["id"],
                user_id=user.id,
                username=user.username,
                project_id=project,
                project_name=name,
                client_id=None if client is None else client["id"],
                client_name=None if client is None else client["name"],
                task_id=None if task is None else task["id"],
                task_name=None if task is None else task["name"],
                start=start,
                seconds=seconds,
                billable=billable,
                tags=tuple(dict.fromkeys(t for t in (tags or "").split(",") if t)),
                notes=notes,
                rate=rate,
            )
        )
    return World(admin, alice, bob, entries, projects)
