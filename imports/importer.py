"""Plan and run an import: match users, find or create clients, projects and tasks by name,
skip what an earlier import of the same file created, then record the entries in batches
(each batch one transaction, all or nothing, `source` `import:<format>`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

import psycopg
from psycopg.rows import dict_row

from timetracker.commands.application import TimeTracking
from timetracker.commands.errors import ItemsInvalidError
from timetracker.commands.messages import (
    CreateClient,
    CreateEntries,
    CreateProject,
    CreateTask,
    NewEntry,
)
from timetracker.domain.values import Stamp
from timetracker.imports.formats import ImportRow, RowProblem, parse
from timetracker.projections.engine.runner import catch_up_each, create_schema
from timetracker.projections.imported_entries import imported_keys
from timetracker.projections.registry import all_projections

BATCH_SIZE = 1000
Progress = Callable[[int, int], None]
_ROW_INDEX = re.compile(r"^rows\[(\d+)\]\.(.+)$")


class ImportUserError(LookupError):
    """`--user` names no user."""


@dataclass
class ImportPlan:
    """What an import would do (a dry run's answer) and what it needs to do it."""

    format: str
    source: str
    rows_read: int
    entries: list[tuple[ImportRow, int]] = field(default_factory=list)  # row, user id
    already_imported: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    clients_to_create: list[str] = field(default_factory=list)
    projects_to_create: list[tuple[str, str | None]] = field(default_factory=list)
    tasks_to_create: list[tuple[str, str | None, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The plan as JSON-ready values."""
        return {
            "format": self.format,
            "rows_read": self.rows_read,
            "entries_to_create": len(self.entries),
            "already_imported": self.already_imported,
            "clients_to_create": self.clients_to_create,
            "projects_to_create": [
                {"name": name, "client": client} for name, client in self.projects_to_create
            ],
            "tasks_to_create": [
                {"project": project, "client": client, "name": task}
                for project, client, task in self.tasks_to_create
            ],
            "problems": [{"line": p.line, "message": p.message} for p in self.problems],
        }


@dataclass
class ImportResult:
    """What an import did."""

    plan: ImportPlan
    entries_created: int = 0
    clients_created: int = 0
    projects_created: int = 0
    tasks_created: int = 0
    position: int | None = None

    def summary(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        return {
            **self.plan.summary(),
            "entries_created": self.entries_created,
            "clients_created": self.clients_created,
            "projects_created": self.projects_created,
            "tasks_created": self.tasks_created,
            "position": self.position,
        }


def _key(name: str | None) -> str:
    return (name or "").strip().casefold()


@dataclass
class _Catalogue:
    """The names the read models know, case-insensitively."""

    users_by_email: dict[str, int]
    users_by_name: dict[str, int]
    clients: dict[str, int]
    projects: dict[tuple[str, int | None], tuple[int, str]]  # -> id, status
    tasks: dict[tuple[int, str], int]


def _catalogue(conninfo: str) -> _Catalogue:
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        users = conn.execute("SELECT id, username, email, full_name FROM users").fetchall()
        clients = conn.execute("SELECT id, name FROM clients WHERE status = 'active'").fetchall()
        projects = conn.execute(
            "SELECT id, name, client_id, status FROM projects ORDER BY status = 'archived', id"
        ).fetchall()
        tasks = conn.execute("SELECT id, project_id, name FROM tasks ORDER BY id").fetchall()
    by_name: dict[str, int] = {}
    for user in users:
        for name in (user["full_name"], user["username"]):  # a username wins over a name
            if name:
                by_name[_key(name)] = user["id"]
    catalogue = _Catalogue(
        users_by_email={_key(u["email"]): u["id"] for u in users if u["email"]},
        users_by_name=by_name,
        clients={_key(c["name"]): c["id"] for c in clients},
        projects={},
        tasks={},
    )
    for project in projects:
        catalogue.projects.setdefault(
            (_key(project["name"]), project["client_id"]), (project["id"], project["status"])
        )
    for task in tasks:
        catalogue.tasks.setdefault((task["project_id"], _key(task["name"])), task["id"])
    return catalogue


class Importer:
    """Imports files of one store; `conninfo` reaches its read models."""

    def __init__(self, store: TimeTracking, conninfo: str) -> None:
        self.store = store
        self.conninfo = conninfo

    def refresh(self) -> None:
        """Bring the read models the plan reads up to the head of the log."""
        projections = all_projections()
        create_schema(self.conninfo, projections)
        catch_up_each(self.store, projections, self.conninfo)

    def plan(
        self, fmt: str, text: str, zone: tzinfo = UTC, username: str | None = None
    ) -> ImportPlan:
        """Read the file and decide what to create (nothing is written)."""
        parsed = parse(fmt, text, zone)
        self.refresh()
        catalogue = _catalogue(self.conninfo)
        plan = ImportPlan(
            format=fmt,
            source=f"import:{fmt}",
            rows_read=len(parsed.rows) + len(parsed.problems),
            problems=list(parsed.problems),
        )
        forced_user = None
        if username is not None:
            forced_user = catalogue.users_by_name.get(_key(username))
            if forced_user is None:
                raise ImportUserError(f"No user is named {username!r}.")
        done = imported_keys(self.conninfo, plan.source, (r.external_key for r in parsed.rows))
        new_clients: dict[str, str] = {}
        new_projects: dict[tuple[str, str], tuple[str, str | None]] = {}
        new_tasks: dict[tuple[str, str, str], tuple[str, str | None, str]] = {}
        for row in parsed.rows:
            if row.external_key in done:
                plan.already_imported += 1
                continue
            user_id = forced_user or self._user_of(row, catalogue)
            if user_id is None:
                who = row.user_email or row.user_name or "(nobody)"
                plan.problems.append(
                    RowProblem(row.line, f"No user matches {who!r} (by email or name).")
                )
                continue
            client_id = catalogue.clients.get(_key(row.client)) if row.client else None
            if row.client and client_id is None:
                new_clients.setdefault(_key(row.client), row.client)
            project = (
                None
                if row.client and client_id is None
                else catalogue.projects.get((_key(row.project), client_id))
            )
            if project is not None and project[1] == "archived":
                plan.problems.append(RowProblem(row.line, f"Project {row.project!r} is archived."))
                continue
            if project is None:
                new_projects.setdefault(
                    (_key(row.project), _key(row.client)), (row.project, row.client)
                )
            if row.task and (
                project is None or (project[0], _key(row.task)) not in catalogue.tasks
            ):
                new_tasks.setdefault(
                    (_key(row.project), _key(row.client), _key(row.task)),
                    (row.project, row.client, row.task),
                )
            plan.entries.append((row, user_id))
            done.add(row.external_key)  # a repeated key in the file counts once
        plan.clients_to_create = list(new_clients.values())
        plan.projects_to_create = list(new_projects.values())
        plan.tasks_to_create = list(new_tasks.values())
        plan.problems.sort(key=lambda p: p.line)
        return plan

    @staticmethod
    def _user_of(row: ImportRow, catalogue: _Catalogue) -> int | None:
        if row.user_email and _key(row.user_email) in catalogue.users_by_email:
            return catalogue.users_by_email[_key(row.user_email)]
        if row.user_name:
            return catalogue.users_by_name.get(_key(row.user_name))
        return None

    def run(self, plan: ImportPlan, stamp: Stamp, progress: Progress | None = None) -> ImportResult:
        """Create the missing catalogue, then the entries in batches of BATCH_SIZE."""
        result = ImportResult(plan)
        catalogue = _catalogue(self.conninfo)
        client_ids = dict(catalogue.clients)
        for name in plan.clients_to_create:
            written = self.store.create_client(CreateClient(values={"name": name}, stamp=stamp))
            client_ids[_key(name)] = written.id
            result.clients_created += 1
        project_ids = {key: value[0] for key, value in catalogue.projects.items()}
        for name, client in plan.projects_to_create:
            client_id = client_ids.get(_key(client)) if client else None
            values = {"name": name, "client_id": client_id}
            written = self.store.create_project(CreateProject(values=values, stamp=stamp))
            project_ids[(_key(name), client_id)] = written.id
            result.projects_created += 1
        task_ids = dict(catalogue.tasks)

        def project_of(row: ImportRow) -> int:  # every row's project exists by now
            client_id = client_ids.get(_key(row.client)) if row.client else None
            return project_ids[(_key(row.project), client_id)]

        for project_name, client_name, task_name in plan.tasks_to_create:
            client_id = client_ids.get(_key(client_name)) if client_name else None
            project_id = project_ids[(_key(project_name), client_id)]
            if (project_id, _key(task_name)) in task_ids:
                continue
            written = self.store.create_task(
                CreateTask(project_id=project_id, values={"name": task_name}, stamp=stamp)
            )
            task_ids[(project_id, _key(task_name))] = written.id
            result.tasks_created += 1
        total = len(plan.entries)
        for first in range(0, total, BATCH_SIZE):
            batch = plan.entries[first : first + BATCH_SIZE]
            items = [self._item(row, user, project_of(row), task_ids) for row, user in batch]
            created, position = self._record(plan, batch, items, stamp)
            result.entries_created += created
            result.position = position or result.position
            if progress is not None:
                progress(min(first + BATCH_SIZE, total), total)
        plan.problems.sort(key=lambda p: p.line)
        return result

    @staticmethod
    def _item(
        row: ImportRow, user_id: int, project_id: int, task_ids: dict[tuple[int, str], int]
    ) -> NewEntry:
        values: dict[str, Any] = {
            "project_id": project_id,
            "task_id": task_ids.get((project_id, _key(row.task))) if row.task else None,
            "start_time": row.start,
            "end_time": row.end,
            "notes": row.notes,
            "tags": row.tags,
            "billable": row.billable,
        }
        return NewEntry(user_id=user_id, values=values, external_key=row.external_key)

    def _record(
        self,
        plan: ImportPlan,
        batch: list[tuple[ImportRow, int]],
        items: list[NewEntry],
        stamp: Stamp,
    ) -> tuple[int, int | None]:
        """Record one batch; rows the domain refuses become problems and the rest go in."""
        while items:
            command = CreateEntries(items, stamp, source=plan.source, field_prefix="rows")
            try:
                written = self.store.create_entries(command)
            except ItemsInvalidError as exc:
                refused: dict[int, str] = {}
                for name, messages in exc.errors.items():
                    match = _ROW_INDEX.match(name)
                    assert match is not None, name
                    refused.setdefault(int(match[1]), f"{match[2]}: {' '.join(messages)}")
                for index, message in refused.items():
                    plan.problems.append(RowProblem(batch[index][0].line, message))
                batch = [b for i, b in enumerate(batch) if i not in refused]
                items = [item for i, item in enumerate(items) if i not in refused]
                continue
            return len(written.entries), written.position
        return 0, None
