"""`timetracker backup create|list|verify|restore|maintenance`: backups of the event store.

`create` writes an archive of the whole event store from one consistent snapshot while
writers carry on; `list` shows the archives in the backup directory; `verify` checks every
byte of one (exit 1 on any problem); `restore` checks it (the dry run), then loads it into
an empty store (or, with `--force`, replaces the store after a safety backup), rebuilds
every read model and prints what it restored. Long work draws a progress bar on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

import psycopg

from timetracker.backups.archive import ArchiveError, Manifest, create_backup, verify_archive
from timetracker.backups.directory import BackupDirectory
from timetracker.backups.restore import (
    RESTORE_LOCK_KEY,
    RestoreIncompleteError,
    RestorePlan,
    Restorer,
    RestoreReport,
    RestoreRunningError,
    StoreNotEmptyError,
)
from timetracker.commands import maintenance
from timetracker.commands.application import open_time_tracking
from timetracker.http.settings import Settings
from timetracker.http.webhook_dispatch import replay_after_restore
from timetracker.ops import cli_values
from timetracker.ops.embedded import embedded_services
from timetracker.ops.progress import ProgressBar


def add_parser(commands: Any) -> None:
    """Add `backup create|list|verify|restore|maintenance` to the `timetracker` command."""
    backup = commands.add_parser(
        "backup", help="back up, verify and restore the event store"
    ).add_subparsers(dest="action", required=True)
    create = backup.add_parser("create", help="archive the whole event store (writers carry on)")
    create.add_argument(
        "--out", type=Path, help="the archive to write (default: a new name in BACKUP_DIR)"
    )
    backup.add_parser("list", help="the archives in BACKUP_DIR, newest first")
    verify = backup.add_parser("verify", help="check every byte of an archive; exit 1 if unsound")
    verify.add_argument("file", type=Path)
    restore = backup.add_parser(
        "restore", help="check an archive, load it, rebuild the read models, report"
    )
    restore.add_argument("file", type=Path)
    restore.add_argument(
        "--dry-run", action="store_true", help="only check the archive and the store"
    )
    restore.add_argument(
        "--until",
        type=cli_values.last_moment,
        help="a date (through its end) or RFC 3339 date-time: restore history only up to it",
    )
    restore.add_argument(
        "--force",
        action="store_true",
        help="replace a store that has events (a safety backup of them is taken first)",
    )
    state = backup.add_parser(
        "maintenance", help="show maintenance mode, or end it after a failed restore"
    )
    state.add_argument("state", nargs="?", choices=("status", "off"), default="status")


class PhaseBars:
    """One progress bar per phase of the work, each ended with its count."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.bar: ProgressBar | None = None
        self.phase = ""
        self.done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self.phase:
            self.close()
            self.bar, self.phase = ProgressBar(phase, self.stream), phase
        assert self.bar is not None
        self.done = done
        self.bar(done, total)

    def progress(self, phase: str) -> Any:
        """A `(done, total)` callback for one phase."""
        return lambda done, total: self(phase, done, total)

    def close(self) -> None:
        """End the current bar."""
        if self.bar is not None:
            self.bar.finish(f"{self.done:,} events")
        self.bar, self.phase = None, ""


def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Carry out `timetracker backup ...`; the exit code."""
    out = out or sys.stdout
    directory = BackupDirectory(settings.backups_path)
    try:
        if args.action == "list":
            return _list(directory, out)
        if args.action == "verify":
            return _verify(args.file, out)
        need_redis = args.action == "restore"
        with embedded_services(settings, need_redis=need_redis) as settings:
            if args.action == "create":
                return _create(settings, directory, args.out, out)
            if args.action == "maintenance":
                return _maintenance(settings, args.state, out)
            return _restore(settings, directory, args, out)
    except ArchiveError as exc:
        print(f"timetracker: archive rejected: {exc}", file=sys.stderr)
        return 1
    except (StoreNotEmptyError, RestoreRunningError, RestoreIncompleteError) as exc:
        print(f"timetracker: {exc}", file=sys.stderr)
        return 1


def _summary(manifest: Manifest) -> str:
    return (
        f"{manifest.event_count:,} events, {manifest.stream_count:,} streams, positions"
        f" {manifest.first_position or 0}-{manifest.last_position},"
        f" created {manifest.as_json()['created_at']}, SHA-256 {manifest.events_sha256}"
    )


def _create(settings: Settings, directory: BackupDirectory, path: Path | None, out: TextIO) -> int:
    destination = path or directory.new_path()
    if destination.exists():
        print(f"timetracker: {destination} exists; choose another --out", file=sys.stderr)
        return 1
    bars = PhaseBars()
    manifest = create_backup(settings.conninfo, destination, bars.progress("backup"))
    bars.close()
    print(f"{destination}", file=out)
    print(f"  {_summary(manifest)}, {destination.stat().st_size:,} bytes", file=out)
    return 0


def _list(directory: BackupDirectory, out: TextIO) -> int:
    found = directory.list()
    if not found:
        print(f"No backups in {directory.path}", file=out)
        return 0
    print(f"{'filename':52} {'created':27} {'events':>12} {'position':>12} {'bytes':>14}", file=out)
    for item in found:
        manifest = item.manifest
        if manifest is None:
            print(f"{item.filename:52} unreadable: {item.problem}", file=out)
            continue
        print(
            f"{item.filename:52} {manifest.as_json()['created_at']:27}"
            f" {manifest.event_count:>12,} {manifest.last_position:>12,} {item.size_bytes:>14,}",
            file=out,
        )
    return 0


def _verify(path: Path, out: TextIO) -> int:
    bars = PhaseBars()
    verified = verify_archive(path, bars.progress("verify"))
    bars.close()
    print(f"{path}: ok", file=out)
    print(
        f"  format version {verified.manifest.format_version}, {_summary(verified.manifest)}",
        file=out,
    )
    return 0


def _maintenance(settings: Settings, state: str, out: TextIO) -> int:
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        maintenance.create_table(conn)
        current = maintenance.read_state(conn)
        if state == "status" or current is None:
            if current is None:
                print("Maintenance: off", file=out)
            else:
                print(f"Maintenance: on ({current.reason}) since {current.started_at}", file=out)
            return 0
        locked = conn.execute("SELECT pg_try_advisory_lock(%s)", (RESTORE_LOCK_KEY,)).fetchone()
        if locked is None or not locked[0]:
            print("timetracker: a restore is running; it ends maintenance itself", file=sys.stderr)
            return 1
        try:
            maintenance.leave(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (RESTORE_LOCK_KEY,))
    print("Maintenance: off", file=out)
    return 0


def _restore(
    settings: Settings, directory: BackupDirectory, args: argparse.Namespace, out: TextIO
) -> int:
    store = open_time_tracking(settings.event_store_env())
    try:
        bars = PhaseBars()

        def replay(progress: Any) -> dict[str, int]:
            return replay_after_restore(store, settings, progress)

        restorer = Restorer(settings.conninfo, store.mapper, directory, replay)
        try:
            # A dry run reports on a store with events too (what --force would replace).
            plan = restorer.plan(args.file, args.until, args.force or args.dry_run, bars)
        finally:
            bars.close()
        _print_plan(plan, out, args.force)
        if args.dry_run:
            print("Dry run: nothing was changed.", file=out)
            return 0
        try:
            report = restorer.restore(plan, bars)
        finally:
            bars.close()
        _print_report(report, out)
        return 0
    finally:
        store.close()


def _print_plan(plan: RestorePlan, out: TextIO, forced: bool) -> None:
    print(f"{plan.archive}: ok", file=out)
    print(f"  {_summary(plan.manifest)}", file=out)
    if plan.until is not None:
        print(
            f"  up to {plan.until.isoformat()}: {plan.events_to_restore:,} events"
            f" (through position {plan.last_position})",
            file=out,
        )
    if plan.events_in_store and forced:
        print(
            f"  the store holds {plan.events_in_store:,} events: they are replaced"
            " (after a safety backup)",
            file=out,
        )
    elif plan.events_in_store:
        print(
            f"  the store holds {plan.events_in_store:,} events: a restore would refuse"
            " without --force (which replaces them, after a safety backup)",
            file=out,
        )


def _print_report(report: RestoreReport, out: TextIO) -> None:
    print(
        f"Restored {report.events:,} events ({report.streams:,} streams) through position"
        f" {report.last_position} in {report.seconds:.1f} s",
        file=out,
    )
    print(f"  SHA-256 of the restored events: {report.events_sha256}", file=out)
    if report.safety_backup is not None:
        print(f"  safety backup of the replaced store: {report.safety_backup}", file=out)
    ids = ", ".join(f"{kind} {number}" for kind, number in report.ids.items())
    print(f"  highest ids: {ids}", file=out)
    for name, position in report.read_models.items():
        print(f"  read model {name}: at position {position}", file=out)
