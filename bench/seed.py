"""The benchmark's data set, recorded through the event store (never into read models).

Clients, projects, tasks, users and tokens go through the service's own commands; the time
entries are `Entry` aggregates saved 500 per `save()`, with ids from the service's sequence,
spread over the last `days` days (working hours, 15 minutes to 4 hours each). The read models
are then built by the server's own projection runners from the log.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from eventsourcing.domain import Aggregate
from psycopg import sql

from timetracker.commands.application import TimeTracking, open_time_tracking
from timetracker.commands.ids import sequence_name
from timetracker.commands.messages import CreateClient, CreateProject, CreateTask
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.task import Task
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token, register_user

SAVE_EVERY = 500
TAGS = ("meeting", "review", "support", "design", "ops", "email")


@dataclass(frozen=True)
class Shape:
    """How big the data set is."""

    clients: int = 5
    projects: int = 20
    tasks: int = 200
    users: int = 50
    entries: int = 100_000
    days: int = 90


@dataclass
class DataSet:
    """What the load needs to know about the seeded data."""

    admin_token: str
    user_tokens: list[str] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)
    project_ids: list[int] = field(default_factory=list)
    tasks_by_project: dict[int, list[int]] = field(default_factory=dict)
    events: int = 0


def _stamp() -> Stamp:
    return Stamp(at=datetime.now(UTC), user_id=None, request_id="bench-seed", is_admin=True)


def _take_ids(store: TimeTracking, kind: str, count: int) -> list[int]:
    """`count` fresh ids from the service's own sequence (so later API writes never clash)."""
    datastore = store.recorder.datastore
    query = sql.SQL("SELECT nextval({}) AS id FROM generate_series(1, %s)").format(
        sql.Literal(sequence_name(kind))
    )
    with datastore.transaction(commit=True) as cursor:
        cursor.execute(query, (count,))
        return [int(row["id"]) for row in cursor.fetchall()]


def seed(settings: Settings, shape: Shape, progress: bool = True) -> DataSet:
    """Record the data set; returns the tokens and ids the load uses."""
    rng = random.Random(8)
    store = open_time_tracking(settings.event_store_env())
    try:
        register_user(store, "bench-admin", None, "Benchmark admin", admin=True)
        data = DataSet(issue_token(store, "bench-admin", ["admin:all"], "bench", None).token)
        for n in range(shape.users):
            name = f"user{n + 1:03}"
            data.user_ids.append(register_user(store, name, None, f"User {n + 1}", admin=False))
            data.user_tokens.append(
                issue_token(store, name, ["read:*", "write:*"], "b", None).token
            )
        stamp = _stamp()
        clients = [
            store.create_client(CreateClient({"name": f"Client {n + 1}"}, stamp)).id
            for n in range(shape.clients)
        ]
        projects: list[Project] = []
        for n in range(shape.projects):
            values = {
                "name": f"Project {n + 1}",
                "client_id": clients[n % len(clients)] if clients else None,
                "hourly_rate": Decimal(60 + 5 * (n % 8)),
                "billable": n % 5 != 0,
            }
            number = store.create_project(CreateProject(values, stamp)).id
            data.project_ids.append(number)
            projects.append(store.load(Project, "project", number))
        tasks: dict[int, list[Task]] = {p.number: [] for p in projects}
        for n in range(shape.tasks):
            project = projects[n % len(projects)]
            values = {"name": f"Task {n + 1}", "priority": ("low", "medium", "high")[n % 3]}
            number = store.create_task(CreateTask(project.number, values, stamp)).id
            tasks[project.number].append(store.load_task(number))
        data.tasks_by_project = {p: [t.number for t in ts] for p, ts in tasks.items()}
        _seed_entries(store, shape, data, projects, tasks, rng, progress)
        data.events = store.recorder.max_notification_id() or 0
        return data
    finally:
        store.close()


def _seed_entries(
    store: TimeTracking,
    shape: Shape,
    data: DataSet,
    projects: list[Project],
    tasks: dict[int, list[Task]],
    rng: random.Random,
    progress: bool,
) -> int:
    stamp = _stamp()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = today - timedelta(days=shape.days - 1)
    done = 0
    while done < shape.entries:
        count = min(SAVE_EVERY, shape.entries - done)
        batch: list[Aggregate] = []
        for number in _take_ids(store, "time_entry", count):
            project = projects[rng.randrange(len(projects))]
            task_choices = tasks[project.number]
            task = task_choices[rng.randrange(len(task_choices))] if task_choices else None
            start = first_day + timedelta(
                days=rng.randrange(shape.days), hours=7 + rng.random() * 10
            )
            end = start + timedelta(minutes=15 + rng.randrange(226))
            if end > stamp.at:
                start, end = start - timedelta(days=1), end - timedelta(days=1)
            values = {
                "start_time": start,
                "end_time": end,
                "notes": f"Bench entry {number}",
                "tags": ",".join(rng.sample(TAGS, rng.randrange(3))) or None,
                "billable": rng.random() < 0.8,
            }
            user_id = data.user_ids[rng.randrange(len(data.user_ids))]
            batch.append(Entry.create(number, user_id, project, task, values, "api", stamp))
        store.save(*batch)
        done += count
        if progress and (sys.stdout.isatty() or done == shape.entries):
            print(f"\rseeding entries: {done:,}/{shape.entries:,}", end="", flush=True)
    if progress:
        print()
    return done
