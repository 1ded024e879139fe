"""Damaged copies of backup archives: a flipped byte, a cut, a member left out, a newer format."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from timetracker.backups.archive import EVENTS, MANIFEST, MEMBERS, STREAMS, SUMS


def member_span(archive: Path, name: str) -> tuple[int, int]:
    """Where a member's data starts in the file, and its size."""
    with tarfile.open(archive, "r:") as tar:
        member = tar.getmember(name)
        return member.offset_data, member.size


def header_offset(archive: Path, name: str) -> int:
    """Where a member's tar header starts in the file."""
    with tarfile.open(archive, "r:") as tar:
        return tar.getmember(name).offset


def flipped(archive: Path, offset: int, out: Path) -> Path:
    """A copy of the archive with every bit of the byte at `offset` inverted."""
    data = bytearray(archive.read_bytes())
    data[offset] ^= 0xFF
    out.write_bytes(bytes(data))
    return out


def truncated(archive: Path, size: int, out: Path) -> Path:
    """A copy of the archive's first `size` bytes."""
    out.write_bytes(archive.read_bytes()[:size])
    return out


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:") as tar:
        found = {}
        for name in MEMBERS:
            file = tar.extractfile(name)
            assert file is not None
            found[name] = file.read()
        return found


def repacked(
    archive: Path,
    out: Path,
    leave_out: tuple[str, ...] = (),
    manifest: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """The archive rewritten: members left out, or the manifest changed (with SHA256SUMS
    updated to match, so that only the change itself is wrong)."""
    members = _members(archive)
    if manifest is not None:
        document = json.loads(members[MANIFEST])
        manifest(document)
        members[MANIFEST] = json.dumps(document, indent=2).encode() + b"\n"
        sums = [
            f"{hashlib.sha256(members[name]).hexdigest()}  {name}"
            for name in (MANIFEST, EVENTS, STREAMS)
        ]
        members[SUMS] = ("\n".join(sums) + "\n").encode()
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name in MEMBERS:
            if name in leave_out:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            tar.addfile(info, io.BytesIO(members[name]))
    return out


def event_rows(conninfo: str) -> list[tuple[Any, ...]]:
    """Every stored event row, in log order (to show a store was left untouched)."""
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state"
                " FROM timetracking_events ORDER BY notification_id"
            )
        ).fetchall()


def _rewritten(
    archive: Path, out: Path, events_gz: bytes, manifest: Callable[[dict[str, Any]], None]
) -> Path:
    members = _members(archive)
    members[EVENTS] = events_gz
    document = json.loads(members[MANIFEST])
    document["files"][EVENTS] = {
        "bytes": len(events_gz),
        "sha256": hashlib.sha256(events_gz).hexdigest(),
    }
    manifest(document)
    members[MANIFEST] = json.dumps(document, indent=2).encode() + b"\n"
    sums = [
        f"{hashlib.sha256(members[name]).hexdigest()}  {name}"
        for name in (MANIFEST, EVENTS, STREAMS)
    ]
    members[SUMS] = ("\n".join(sums) + "\n").encode()
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name in MEMBERS:
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            tar.addfile(info, io.BytesIO(members[name]))
    partial.replace(out)
    return out


def with_events(
    archive: Path,
    out: Path,
    change: Callable[[list[bytes]], list[bytes]],
    fix_events_sha256: bool = True,
) -> Path:
    """The archive with its event lines changed by `change`, still valid gzip, with every
    file checksum (manifest and SHA256SUMS) updated to match, and the SHA-256 of the events
    too unless `fix_events_sha256` is false: so only what the change breaks is wrong."""
    raw = gzip.decompress(_members(archive)[EVENTS])
    lines = change(raw.splitlines(keepends=True))
    data = b"".join(lines)

    def manifest(document: dict[str, Any]) -> None:
        if fix_events_sha256:
            document["events_sha256"] = hashlib.sha256(data).hexdigest()

    return _rewritten(archive, out, gzip.compress(data, mtime=0), manifest)


def with_inflating_events(archive: Path, out: Path, inflated_bytes: int) -> Path:
    """The archive with an events member that inflates to `inflated_bytes` of one
    unterminated line (a decompression bomb), every file checksum updated to match."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    block = b"A" * (1024 * 1024)
    parts = [compressor.compress(block) for _ in range(inflated_bytes // len(block))]
    parts.append(compressor.flush())
    return _rewritten(archive, out, b"".join(parts), lambda document: None)
