"""`timetracker audit`: the record read back for auditors.

`audit history RESOURCE ID` prints every version of one resource (the same items as the
API's history); `audit export` streams every event recorded in a time window, with its
actor, as JSON lines or CSV, in store order, with progress on stderr. Both read the event
store itself, so they need no read model and no running server.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import datetime
from typing import Any, TextIO

import orjson

from timetracker.commands.application import TimeTracking
from timetracker.domain.kinds import KINDS
from timetracker.domain.values import aggregate_id
from timetracker.eventlog.documents import record_json, version_json
from timetracker.eventlog.reader import EVENT_TYPES, RESOURCES, EventLog, Record, Version
from timetracker.ops import cli_values
from timetracker.ops.progress import ProgressBar

BATCH = 500
# What an operator may type for each resource kind.
ALIASES = {
    **{kind: kind for kind in RESOURCES},
    **{kind.replace("_", "-"): kind for kind in RESOURCES},
    **{f"{kind}s": kind for kind in RESOURCES},
    **{f"{kind.replace('_', '-')}s": kind for kind in RESOURCES},
    **{kind.collection: kind.name for kind in KINDS if kind.collection},
    **{kind.scope: kind.name for kind in KINDS if kind.scope},
    "entry": "time_entry",
    "entries": "time_entry",
}
CSV_COLUMNS = (
    "position",
    "at",
    "event",
    "resource",
    "resource_id",
    "version",
    "user_id",
    "username",
    "token_prefix",
    "request_id",
    "data",
)


class AuditLookupError(LookupError):
    """The resource the auditor named has no events."""


def _kind(text: str) -> str:
    try:
        return ALIASES[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"unknown resource {text!r} (one of: {', '.join(RESOURCES)})"
        ) from None


def add_parser(commands: Any) -> None:
    """Add `audit history` and `audit export` to the `timetracker` command."""
    audit = commands.add_parser(
        "audit", help="read the record: a resource's history, an export of events"
    ).add_subparsers(dest="action", required=True)
    history = audit.add_parser("history", help="every version of one resource, oldest first")
    history.add_argument("resource", type=_kind, help=f"one of: {', '.join(RESOURCES)}")
    history.add_argument("id", type=int, help="the resource's id")
    history.add_argument("--format", choices=("text", "jsonl"), default="text")
    export = audit.add_parser(
        "export", help="every event recorded in [--since, --until), streamed in store order"
    )
    export.add_argument(
        "--since",
        type=cli_values.start_moment,
        help="a date (from its 00:00:00Z) or RFC 3339 date-time; default: the beginning",
    )
    export.add_argument(
        "--until",
        type=cli_values.end_moment,
        help="a date (through its end) or RFC 3339 date-time (exclusive); default: now",
    )
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")


def run(store: TimeTracking, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Carry out `timetracker audit ...`; the exit code."""
    out = out or sys.stdout
    log = EventLog(store)
    if args.action == "history":
        print_history(log, args.resource, args.id, args.format, out)
        return 0
    export(log, args.since, args.until, args.format, out)
    return 0


def print_history(log: EventLog, kind: str, number: int, fmt: str, out: TextIO) -> None:
    """Every version of one resource, as text or JSON lines."""
    _, versions = log.current_history(aggregate_id(kind, number))
    if not versions:
        raise AuditLookupError(f"No {kind} {number} in the event store.")
    for version in versions:
        if fmt == "jsonl":
            out.write(orjson.dumps(version_json(version)).decode() + "\n")
        else:
            out.write(_text(version))
    out.flush()


def _text(version: Version) -> str:
    item = version_json(version)
    actor = item["actor"]
    who = actor["username"] or ("the operator" if actor["user_id"] is None else actor["user_id"])
    token = f" ({actor['token_prefix']})" if actor["token_prefix"] else ""
    lines = [
        f"v{item['version']}  {item['at']}  position {item['position']}  {item['event']}"
        f"  by {who}{token}  request {item['request_id'] or '-'}"
    ]
    for name, change in item["changes"].items():
        before, after = (orjson.dumps(change[k]).decode() for k in ("from", "to"))
        lines.append(f"    {name}: {before} -> {after}")
    return "\n".join(lines) + "\n"


def export(
    log: EventLog,
    since: datetime | None,
    until: datetime | None,
    fmt: str,
    out: TextIO,
    progress_stream: TextIO | None = None,
) -> int:
    """Write every event recorded in [since, until), up to the store's head now; the count.

    The log is read in store order, `BATCH` events at a time, and written as it is read.
    """
    head = log.head()
    topics = [t.topic for t in EVENT_TYPES.values()]
    bar = ProgressBar("audit export", progress_stream)
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    cursor = written = 0
    while cursor < head:
        batch = log.read(cursor, BATCH, topics, upto=head)
        if not batch:
            break
        for record in log.records(batch):
            at = record.logged.at
            if (since is None or at >= since) and (until is None or at < until):
                _write(record, writer, out)
                written += 1
        cursor = batch[-1].position
        out.flush()
        bar(cursor, head)
    bar.finish(f"{written:,} events written (store read up to position {head:,})")
    return written


def _write(record: Record, writer: Any, out: TextIO) -> None:
    item = record_json(record)
    if writer is None:
        out.write(orjson.dumps(item).decode() + "\n")
        return
    actor = item["actor"]
    writer.writerow(
        (
            item["position"],
            item["at"],
            item["event"],
            item["resource"],
            item["resource_id"],
            item["version"],
            actor["user_id"],
            actor["username"],
            actor["token_prefix"],
            item["request_id"],
            orjson.dumps(item["data"]).decode(),
        )
    )
