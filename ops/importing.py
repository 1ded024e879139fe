"""`timetracker import FORMAT FILE [--dry-run] [--user USERNAME] [--timezone ZONE]`."""

from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo

from timetracker.commands.application import open_time_tracking
from timetracker.http.schemas.reports import iana_zone
from timetracker.http.settings import Settings
from timetracker.imports.formats import FORMATS, ImportFormatError
from timetracker.imports.importer import Importer, ImportPlan, ImportUserError
from timetracker.ops.accounts import operator_stamp
from timetracker.ops.embedded import embedded_services
from timetracker.ops.progress import ProgressBar


def _zone(name: str) -> ZoneInfo:
    try:
        return iana_zone(name)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IANA time zone: {name!r}") from None


def add_parser(commands: Any) -> None:
    """Add `import` to the `timetracker` command."""
    command = commands.add_parser(
        "import", help="import time entries from another tracker's CSV export"
    )
    command.add_argument("format", choices=FORMATS, help="the tool that wrote the file")
    command.add_argument("file", help="the CSV export")
    command.add_argument(
        "--dry-run", action="store_true", help="say what would be created; change nothing"
    )
    command.add_argument("--user", help="record every entry for this username")
    command.add_argument(
        "--timezone",
        type=_zone,
        default=ZoneInfo("UTC"),
        help="the time zone of the file's times (IANA, default UTC)",
    )


class ImportInputError(ValueError):
    """The file cannot be read, is not of the format, or --user names nobody."""


def print_plan(plan: ImportPlan, dry_run: bool) -> None:
    """The plan (or what was done) in a few lines, then every unreadable row."""
    new = "to create" if dry_run else "created"
    print(f"{plan.rows_read} rows read from a {plan.format} export")
    print(f"{len(plan.entries)} time entries {new}; {plan.already_imported} already imported")
    for name in plan.clients_to_create:
        print(f"client {new}: {name}")
    for name, client in plan.projects_to_create:
        print(f"project {new}: {name}" + (f" (client {client})" if client else ""))
    for project, _, task in plan.tasks_to_create:
        print(f"task {new}: {task} (project {project})")
    for problem in plan.problems:
        print(f"line {problem.line}: {problem.message}")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Plan the import; without --dry-run, carry it out (unreadable rows are listed, skipped)."""
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportInputError(f"cannot read {args.file}: {exc}") from None
    with embedded_services(settings, need_redis=False) as settings:
        store = open_time_tracking(settings.event_store_env())
        try:
            importer = Importer(store, settings.conninfo)
            try:
                plan = importer.plan(args.format, text, args.timezone, args.user)
            except (ImportFormatError, ImportUserError) as exc:
                raise ImportInputError(str(exc)) from None
            if args.dry_run:
                print_plan(plan, dry_run=True)
                return 0
            result = importer.run(plan, operator_stamp(), ProgressBar("import"))
            importer.refresh()  # a running server shows the entries from the next request
        finally:
            store.close()
    print_plan(plan, dry_run=False)
    print(
        f"created {result.entries_created} time entries, {result.clients_created} clients, "
        f"{result.projects_created} projects, {result.tasks_created} tasks"
    )
    return 0
