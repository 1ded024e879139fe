"""Backup archives of the event store: the format, writing one, reading and verifying one.

An archive is a plain (ustar) tar file of four members, always in this order:

    manifest.json     what the archive holds: format and version, when, event count, first
                      and last position, stream count, the SHA-256 of the ordered events
                      and of the stream table, and each file's size and SHA-256
    events.jsonl.gz   every event in log order, one JSON array a line:
                      [position, originator_id, originator_version, topic, state (base64)]
    streams.jsonl.gz  the manifest's per-stream table: [originator_id, last version] a line,
                      sorted by id (kept out of manifest.json, which stays small to list)
    SHA256SUMS        the SHA-256 of the three files above, as `sha256sum` writes them

So `tar -xf` and `sha256sum -c SHA256SUMS` check an archive with standard tools. The
events' checksum is the SHA-256 of the uncompressed `events.jsonl`: its lines are the
canonical form of the rows (compact JSON, state in standard base64), so it can be computed
from a database as well (`store_fingerprint`) and compared after a restore.

Verification leaves no byte unchecked: tar headers carry their own checksum, the members
must be exactly these four in this order, the padding between and after them must be
zeros, each file's SHA-256 is compared, and every row is parsed and re-encoded. Every
event's topic must name one of the domain's own event classes (nothing else is ever
imported), and every state must decode as the service decodes it. Lines are read with a
length cap and each member with an inflated-size cap derived from the manifest, so a
decompression bomb is refused before its data is held in memory.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import os
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import psycopg
from psycopg import sql

from timetracker.commands.store import service_transcoder
from timetracker.domain.topics import event_topics

FORMAT = "timetracker-es-backup"
FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)
MANIFEST = "manifest.json"
EVENTS = "events.jsonl.gz"
STREAMS = "streams.jsonl.gz"
SUMS = "SHA256SUMS"
MEMBERS = (MANIFEST, EVENTS, STREAMS, SUMS)
EVENTS_TABLE = "timetracking_events"
FETCH_ROWS = 10_000
COMPRESS_LEVEL = 1  # the JSON compresses about 4x even so; level 6 costs 3x the time
MAX_MANIFEST_BYTES = 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
READ_CHUNK = 1024 * 1024
# The longest event line read: a state many times the largest request body (1 MiB by
# default), in base64. Past it, a line is refused before it is held in memory.
MAX_EVENT_LINE_BYTES = 16 * 1024 * 1024
MAX_STREAM_LINE_BYTES = 1024  # ["<uuid>", version]
ARCHIVE_FILE_MODE = 0o600  # archives hold every event and token hash: the owner's only

Progress = Callable[[int, int], None]  # (events done, events in all)
DecodeState = Callable[[bytes], Any]  # stored state -> the event's attributes
Row = tuple[int, str, int, str, bytes]  # position, originator id, version, topic, state

MANIFEST_FIELDS: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "format_version": int,
    "created_at": str,
    "application": str,
    "event_count": int,
    "first_position": (int, type(None)),
    "last_position": int,
    "stream_count": int,
    "events_sha256": str,
    "streams_sha256": str,
    "files": dict,
}


class ArchiveError(Exception):
    """The file is not a sound backup archive; the message says why."""


@dataclass(frozen=True)
class Manifest:
    """What an archive holds (the parsed `manifest.json`)."""

    created_at: datetime
    application: str
    event_count: int
    first_position: int | None
    last_position: int
    stream_count: int
    events_sha256: str
    streams_sha256: str
    files: dict[str, dict[str, Any]]
    format_version: int = FORMAT_VERSION

    def as_json(self) -> dict[str, Any]:
        """The `manifest.json` document."""
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "created_at": _rfc3339(self.created_at),
            "application": self.application,
            "event_count": self.event_count,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "stream_count": self.stream_count,
            "events_sha256": self.events_sha256,
            "streams_sha256": self.streams_sha256,
            "files": self.files,
        }


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a store's history: event count, last position, streams, checksum."""

    event_count: int
    last_position: int
    streams: dict[str, int]
    events_sha256: str


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def encode_row(row: Row) -> bytes:
    """The canonical line of one event (its bytes are what the checksum covers)."""
    position, originator_id, version, topic, state = row
    return (
        orjson.dumps([position, originator_id, version, topic, base64.b64encode(state).decode()])
        + b"\n"
    )


def encode_stream(originator_id: str, version: int) -> bytes:
    """The canonical line of one stream's last version."""
    return orjson.dumps([originator_id, version]) + b"\n"


def _select_events(table: str) -> sql.Composed:
    return sql.SQL(
        "SELECT notification_id, originator_id::text, originator_version, topic, state"
        " FROM {} ORDER BY notification_id"
    ).format(sql.Identifier(table))


def _rows(conn: psycopg.Connection[Any], table: str) -> Iterator[list[Row]]:
    """Every event of the store in log order, in batches, through a server-side cursor."""
    with conn.cursor(name="timetracker_backup", binary=True) as cursor:
        cursor.itersize = FETCH_ROWS
        cursor.execute(_select_events(table))
        while batch := cursor.fetchmany(FETCH_ROWS):
            yield batch


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dump(
    conn: psycopg.Connection[Any],
    destination: Path,
    progress: Progress | None = None,
    table: str = EVENTS_TABLE,
    application: str = "TimeTracking",
) -> Manifest:
    """Write every event `conn` sees into a new archive at `destination`; its manifest.

    `conn` must be inside a transaction whose snapshot stays fixed (REPEATABLE READ or
    SERIALIZABLE), so that the archive is one consistent state of the log while writers
    carry on. The archive appears at `destination` only once complete (written beside it,
    then renamed).
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    total_row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    total = int(_first(total_row.fetchone()))
    created_at = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        events_path, streams_path = work / EVENTS, work / STREAMS
        events_digest = hashlib.sha256()
        streams: dict[str, int] = {}
        count, first, last = 0, None, 0
        with (
            events_path.open("wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0) as out,
        ):
            for batch in _rows(conn, table):
                chunk = b"".join([encode_row(row) for row in batch])
                events_digest.update(chunk)
                out.write(chunk)
                for _, originator_id, version, _, _ in batch:
                    streams[originator_id] = version
                if first is None:
                    first = batch[0][0]
                last = batch[-1][0]
                count += len(batch)
                if progress is not None:
                    progress(count, max(total, count))
        streams_digest = hashlib.sha256()
        with (
            streams_path.open("wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0) as out,
        ):
            for originator_id in sorted(streams):
                line = encode_stream(originator_id, streams[originator_id])
                streams_digest.update(line)
                out.write(line)
        files = {
            EVENTS: {"bytes": events_path.stat().st_size, "sha256": _sha256_of_file(events_path)},
            STREAMS: {
                "bytes": streams_path.stat().st_size,
                "sha256": _sha256_of_file(streams_path),
            },
        }
        manifest = Manifest(
            created_at=created_at,
            application=application,
            event_count=count,
            first_position=first,
            last_position=last,
            stream_count=len(streams),
            events_sha256=events_digest.hexdigest(),
            streams_sha256=streams_digest.hexdigest(),
            files=files,
        )
        manifest_bytes = orjson.dumps(manifest.as_json(), option=orjson.OPT_INDENT_2) + b"\n"
        sums = (
            f"{hashlib.sha256(manifest_bytes).hexdigest()}  {MANIFEST}\n"
            f"{files[EVENTS]['sha256']}  {EVENTS}\n"
            f"{files[STREAMS]['sha256']}  {STREAMS}\n"
        ).encode()
        partial = work / "archive.tar"
        mtime = int(created_at.timestamp())
        with tarfile.open(partial, "w", format=tarfile.USTAR_FORMAT) as tar:
            _add_bytes(tar, MANIFEST, manifest_bytes, mtime)
            _add_file(tar, EVENTS, events_path, mtime)
            _add_file(tar, STREAMS, streams_path, mtime)
            _add_bytes(tar, SUMS, sums, mtime)
        os.chmod(partial, ARCHIVE_FILE_MODE)
        with partial.open("rb") as file:
            os.fsync(file.fileno())
        os.replace(partial, destination)
    finally:
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()
    return manifest


def _first(row: Any) -> Any:
    assert row is not None
    return row[0]


def _tarinfo(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    tar.addfile(_tarinfo(name, len(data), mtime), io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: Path, mtime: int) -> None:
    with path.open("rb") as file:
        tar.addfile(_tarinfo(name, path.stat().st_size, mtime), file)


def create_backup(
    conninfo: str,
    destination: Path,
    progress: Progress | None = None,
    table: str = EVENTS_TABLE,
) -> Manifest:
    """Back up the whole event store into `destination`, from one consistent snapshot.

    A read-only REPEATABLE READ transaction sees the log as of its start, and writers
    carry on meanwhile: every append takes the events table's EXCLUSIVE lock, which does
    not conflict with readers, and positions become visible in order, so the snapshot
    holds an unbroken prefix of the log.
    """
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            return dump(conn, destination, progress, table)


# Reading ----------------------------------------------------------------------------------


class _HashingReader(io.RawIOBase):
    """Reads a member through, hashing the raw bytes as they pass."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.source.read(len(buffer))
        self.digest.update(data)
        self.size += len(data)
        buffer[: len(data)] = data
        return len(data)


def _open(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:")
    except FileNotFoundError:
        raise ArchiveError(f"{path} does not exist.") from None
    except (tarfile.TarError, OSError) as exc:
        raise ArchiveError(f"Not a readable tar archive ({exc}).") from None


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    try:
        members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"The archive is damaged or incomplete ({exc}).") from None
    return {member.name: member for member in members}


def _manifest_json(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> bytes:
    member = members.get(MANIFEST)
    if member is None:
        raise ArchiveError(
            f"The archive has no {MANIFEST}: it is not a TimeTracker ES backup, or it is damaged."
        )
    if not member.isfile() or member.size > MAX_MANIFEST_BYTES:
        raise ArchiveError(f"{MANIFEST} is not a file of at most {MAX_MANIFEST_BYTES} bytes.")
    file = tar.extractfile(member)
    assert file is not None
    try:
        data = file.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"{MANIFEST} cannot be read ({exc}).") from None
    if len(data) != member.size:
        raise ArchiveError(f"{MANIFEST} is cut short: the archive is truncated.")
    return data


def parse_manifest(data: bytes) -> Manifest:
    """The manifest in `data`, checked field by field (ArchiveError says what is wrong)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ArchiveError(f"{MANIFEST} is not valid JSON ({exc}).") from None
    if not isinstance(document, dict):
        raise ArchiveError(f"{MANIFEST} is not a JSON object.")
    if document.get("format") != FORMAT:
        raise ArchiveError(
            f"Not a TimeTracker ES backup: {MANIFEST} names the format"
            f" {document.get('format')!r}, not {FORMAT!r}."
        )
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ArchiveError(f"{MANIFEST} has no format_version.")
    if version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise ArchiveError(
            f"Unknown archive format version {version}: this service reads version {readable}."
        )
    for name, kind in MANIFEST_FIELDS.items():
        value = document.get(name)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise ArchiveError(f"{MANIFEST} has no valid {name!r}.")
    unknown = sorted(set(document) - set(MANIFEST_FIELDS))
    if unknown:
        raise ArchiveError(f"{MANIFEST} has unknown fields: {', '.join(unknown)}.")
    for name in (EVENTS, STREAMS):
        entry = document["files"].get(name)
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("bytes"), int)
            or not isinstance(entry.get("sha256"), str)
        ):
            raise ArchiveError(f"{MANIFEST} does not describe {name}.")
    try:
        created_at = datetime.fromisoformat(document["created_at"].replace("Z", "+00:00"))
    except ValueError:
        raise ArchiveError(f"{MANIFEST} has an invalid created_at.") from None
    return Manifest(
        created_at=created_at,
        application=document["application"],
        event_count=document["event_count"],
        first_position=document["first_position"],
        last_position=document["last_position"],
        stream_count=document["stream_count"],
        events_sha256=document["events_sha256"],
        streams_sha256=document["streams_sha256"],
        files=document["files"],
        format_version=version,
    )


def read_manifest(path: Path) -> Manifest:
    """An archive's manifest, without reading the rest (for listings)."""
    with _open(path) as tar:
        return parse_manifest(_manifest_json(tar, _members(tar)))


def _check_layout(path: Path, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> None:
    """Exactly the four members, in order, as regular files, with nothing but zeros between
    and after them (tar does not check padding, so a flipped byte there would go unseen)."""
    listed = tar.getmembers()
    names = [member.name for member in listed]
    if names != list(MEMBERS):
        missing = [name for name in MEMBERS if name not in members]
        if missing:
            raise ArchiveError(
                f"The archive lacks {', '.join(missing)}: it is truncated or damaged."
            )
        raise ArchiveError(f"Unexpected archive members: {', '.join(names)}.")
    for member in listed:
        if not member.isfile():
            raise ArchiveError(f"{member.name} is not a regular file.")
    size = path.stat().st_size
    with path.open("rb") as file:
        for member in listed:
            end = member.offset_data + member.size
            padded = -(-end // BLOCK) * BLOCK
            if padded > size:
                raise ArchiveError(f"{member.name} is cut short: the archive is truncated.")
            file.seek(end)
            if file.read(padded - end).strip(b"\0"):
                raise ArchiveError(f"The padding after {member.name} is damaged.")
        tail_start = -(-(listed[-1].offset_data + listed[-1].size) // BLOCK) * BLOCK
        if size - tail_start < 2 * BLOCK:
            raise ArchiveError("The archive's end is missing: it is truncated.")
        file.seek(tail_start)
        while chunk := file.read(READ_CHUNK):
            if chunk.strip(b"\0"):
                raise ArchiveError("The archive's end is damaged (data after the last member).")


@dataclass
class _Tally:
    """What reading the events found."""

    count: int = 0
    first: int | None = None
    last: int = 0


def _lines(source: gzip.GzipFile, name: str, max_line: int, max_total: int) -> Iterator[bytes]:
    """The lines of an inflated member, each at most `max_line` bytes, all together at most
    `max_total`: past either, ArchiveError before more is read."""
    total = 0
    while line := source.readline(max_line + 1):
        if len(line) > max_line:
            raise ArchiveError(f"{name} has a line longer than {max_line:,} bytes.")
        total += len(line)
        if total > max_total:
            raise ArchiveError(
                f"{name} inflates to more than {max_total:,} bytes, more than the manifest's"
                " counts allow."
            )
        yield line


def _check_state(decode_state: DecodeState, state: bytes, number: int) -> None:
    try:
        decoded = decode_state(state)
    except Exception:  # noqa: BLE001 - whatever the decoder raises, the state is unusable
        decoded = None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("timestamp"), datetime):
        raise ArchiveError(
            f"Event line {number} has a state the service cannot decode"
            " (not a JSON object of an event with a timestamp)."
        )


def _decode_line(line: bytes, number: int, decode_state: DecodeState) -> Row:
    try:
        fields = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ArchiveError(f"Event line {number} is not valid JSON.") from None
    if (
        not isinstance(fields, list)
        or len(fields) != 5
        or not isinstance(fields[0], int)
        or not isinstance(fields[1], str)
        or not isinstance(fields[2], int)
        or not isinstance(fields[3], str)
        or not isinstance(fields[4], str)
    ):
        raise ArchiveError(f"Event line {number} is not [position, id, version, topic, state].")
    try:
        state = base64.b64decode(fields[4], validate=True)
    except (binascii.Error, ValueError):
        raise ArchiveError(f"Event line {number} has a state that is not base64.") from None
    row: Row = (fields[0], fields[1], fields[2], fields[3], state)
    if encode_row(row) != line:
        raise ArchiveError(f"Event line {number} is not in the canonical form.")
    if fields[3] not in event_topics():
        raise ArchiveError(
            f"Event line {number} names the topic {fields[3][:200]!r}, which is not one of"
            " this service's event classes."
        )
    _check_state(decode_state, state, number)
    return row


def _event_batches(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    manifest: Manifest,
    tally: _Tally,
    streams: dict[str, int],
    decode_state: DecodeState,
) -> Iterator[tuple[list[Row], _HashingReader, Any]]:
    """The events, in batches, checked line by line as they are read.

    Yields each batch with the raw reader (whose digest covers the compressed bytes read so
    far) and the running digest of the uncompressed lines.
    """
    source = tar.extractfile(member)
    assert source is not None
    raw = _HashingReader(source)
    digest = hashlib.sha256()
    batch: list[Row] = []
    try:
        max_total = max(manifest.event_count, 1) * MAX_EVENT_LINE_BYTES
        with gzip.GzipFile(fileobj=io.BufferedReader(raw, READ_CHUNK), mode="rb") as inflated:
            for line in _lines(inflated, EVENTS, MAX_EVENT_LINE_BYTES, max_total):
                if not line.endswith(b"\n"):
                    raise ArchiveError("events.jsonl.gz ends in the middle of a line.")
                digest.update(line)
                row = _decode_line(line, tally.count + 1, decode_state)
                position, originator_id, version = row[0], row[1], row[2]
                if position <= tally.last:
                    raise ArchiveError(f"Event line {tally.count + 1} is out of log order.")
                if version <= streams.get(originator_id, 0):
                    raise ArchiveError(
                        f"Event line {tally.count + 1} repeats or reorders a stream's version."
                    )
                streams[originator_id] = version
                if tally.first is None:
                    tally.first = position
                tally.last = position
                tally.count += 1
                batch.append(row)
                if len(batch) >= FETCH_ROWS:
                    yield batch, raw, digest
                    batch = []
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise ArchiveError(f"{EVENTS} is damaged ({exc}).") from None
    yield batch, raw, digest


def _read_streams(
    tar: tarfile.TarFile, member: tarfile.TarInfo, manifest: Manifest
) -> tuple[dict[str, int], str, str]:
    """The stream table, its uncompressed digest and its file digest."""
    source = tar.extractfile(member)
    assert source is not None
    raw = _HashingReader(source)
    digest = hashlib.sha256()
    streams: dict[str, int] = {}
    previous = ""
    try:
        max_total = max(manifest.stream_count, 1) * MAX_STREAM_LINE_BYTES
        with gzip.GzipFile(fileobj=io.BufferedReader(raw, READ_CHUNK), mode="rb") as inflated:
            lines = _lines(inflated, STREAMS, MAX_STREAM_LINE_BYTES, max_total)
            for number, line in enumerate(lines, start=1):
                digest.update(line)
                try:
                    fields = orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise ArchiveError(f"Stream line {number} is not valid JSON.") from None
                if (
                    not isinstance(fields, list)
                    or len(fields) != 2
                    or not isinstance(fields[0], str)
                    or not isinstance(fields[1], int)
                    or encode_stream(fields[0], fields[1]) != line
                    or fields[0] <= previous
                ):
                    raise ArchiveError(f"Stream line {number} is malformed or out of order.")
                previous = fields[0]
                streams[fields[0]] = fields[1]
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise ArchiveError(f"{STREAMS} is damaged ({exc}).") from None
    return streams, digest.hexdigest(), raw.digest.hexdigest()


def _read_sums(tar: tarfile.TarFile, member: tarfile.TarInfo) -> dict[str, str]:
    source = tar.extractfile(member)
    assert source is not None
    sums: dict[str, str] = {}
    try:
        text = source.read(64 * 1024).decode("ascii")
    except (UnicodeDecodeError, OSError, tarfile.TarError) as exc:
        raise ArchiveError(f"{SUMS} is damaged ({exc}).") from None
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        sums[name] = digest
    if sorted(sums) != sorted((MANIFEST, EVENTS, STREAMS)):
        raise ArchiveError(f"{SUMS} does not list {MANIFEST}, {EVENTS} and {STREAMS}.")
    return sums


@dataclass(frozen=True)
class Verified:
    """An archive that passed every check, and its manifest."""

    path: Path
    manifest: Manifest


def read_events(
    path: Path,
    progress: Progress | None = None,
    verify: bool = True,
    decode_state: DecodeState | None = None,
) -> Iterator[list[Row]]:
    """The archive's events in log order, in batches, every check applied on the way.

    The last check (that the events match the manifest's count, positions and checksum)
    runs once the events are all read: a consumer that loads batches as they come must
    do so in a transaction it commits only after this generator has finished. With
    `verify` the stream table and SHA256SUMS are checked too. Each state is decoded with
    `decode_state` (by default the service's transcoder), as reading the event back will.
    """
    decode = decode_state or service_transcoder().decode
    with _open(path) as tar:
        members = _members(tar)
        manifest_bytes = _manifest_json(tar, members)
        manifest = parse_manifest(manifest_bytes)
        _check_layout(path, tar, members)
        tally = _Tally()
        streams: dict[str, int] = {}
        events_file_digest = events_digest = ""
        batches = _event_batches(tar, members[EVENTS], manifest, tally, streams, decode)
        for batch, raw, digest in batches:
            if batch:
                yield batch
            if progress is not None:
                progress(tally.count, max(manifest.event_count, tally.count))
            events_file_digest, events_digest = raw.digest.hexdigest(), digest.hexdigest()
        _compare(
            "events",
            [
                ("event count", tally.count, manifest.event_count),
                ("first position", tally.first, manifest.first_position),
                ("last position", tally.last, manifest.last_position),
                ("stream count", len(streams), manifest.stream_count),
                ("SHA-256 of the events", events_digest, manifest.events_sha256),
                (f"SHA-256 of {EVENTS}", events_file_digest, manifest.files[EVENTS]["sha256"]),
            ],
        )
        if not verify:
            return
        listed, streams_digest, streams_file_digest = _read_streams(tar, members[STREAMS], manifest)
        if listed != streams:
            differing = sum(
                1 for key in streams.keys() | listed.keys() if listed.get(key) != streams.get(key)
            )
            raise ArchiveError(
                f"The per-stream versions in {STREAMS} disagree with the events"
                f" ({differing} streams differ)."
            )
        sums = _read_sums(tar, members[SUMS])
        _compare(
            "files",
            [
                ("SHA-256 of the stream table", streams_digest, manifest.streams_sha256),
                (f"SHA-256 of {STREAMS}", streams_file_digest, manifest.files[STREAMS]["sha256"]),
                (
                    f"{SUMS} entry for {MANIFEST}",
                    hashlib.sha256(manifest_bytes).hexdigest(),
                    sums[MANIFEST],
                ),
                (f"{SUMS} entry for {EVENTS}", events_file_digest, sums[EVENTS]),
                (f"{SUMS} entry for {STREAMS}", streams_file_digest, sums[STREAMS]),
            ],
        )


def _compare(what: str, checks: list[tuple[str, Any, Any]]) -> None:
    for name, found, expected in checks:
        if found != expected:
            raise ArchiveError(
                f"Checksum or count mismatch in the {what}: {name} is {found!r} in the data"
                f" but {expected!r} in the manifest."
            )


def verify_archive(path: Path, progress: Progress | None = None) -> Verified:
    """Check every byte of an archive; raises ArchiveError with the reason on any problem."""
    for _ in read_events(path, progress):
        pass
    return Verified(path, read_manifest(path))


def looks_like_archive(head: bytes) -> bool:
    """Whether the first bytes of a file are a tar header naming `manifest.json` first."""
    return (
        len(head) >= BLOCK
        and head[257:263] in (b"ustar\x00", b"ustar ")
        and head[:100].rstrip(b"\0") == MANIFEST.encode()
    )


def store_fingerprint(conninfo: str, table: str = EVENTS_TABLE) -> Fingerprint:
    """The same count, streams and checksum as an archive's, computed from a database."""
    digest = hashlib.sha256()
    streams: dict[str, int] = {}
    count = last = 0
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            for batch in _rows(conn, table):
                digest.update(b"".join([encode_row(row) for row in batch]))
                for _, originator_id, version, _, _ in batch:
                    streams[originator_id] = version
                count += len(batch)
                last = batch[-1][0]
    return Fingerprint(count, last, streams, digest.hexdigest())
