"""The archive format and the backup directory, without services."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from timetracker.backups.archive import (
    ArchiveError,
    encode_row,
    encode_stream,
    looks_like_archive,
    parse_manifest,
)
from timetracker.backups.directory import (
    BackupDirectory,
    BackupNameError,
    BackupNotFoundError,
)
from timetracker.http.settings import Settings, SettingsError

MANIFEST: dict[str, Any] = {
    "format": "timetracker-es-backup",
    "format_version": 1,
    "created_at": "2024-05-01T10:00:00.5Z",
    "application": "TimeTracking",
    "event_count": 2,
    "first_position": 1,
    "last_position": 3,
    "stream_count": 1,
    "events_sha256": "a" * 64,
    "streams_sha256": "b" * 64,
    "files": {
        "events.jsonl.gz": {"bytes": 10, "sha256": "c" * 64},
        "streams.jsonl.gz": {"bytes": 10, "sha256": "d" * 64},
    },
}


def _manifest(**changes: Any) -> bytes:
    document = {**MANIFEST, **changes}
    return orjson.dumps({k: v for k, v in document.items() if v is not ...})


def test_an_event_line_is_compact_json_with_the_state_in_standard_base64() -> None:
    state = b'{"a":1}\xff\x00'
    line = encode_row((7, "0a8f5c7e-0000-4000-8000-000000000001", 3, "m:Topic.Event", state))

    assert line == (
        b'[7,"0a8f5c7e-0000-4000-8000-000000000001",3,"m:Topic.Event","'
        + base64.b64encode(state)
        + b'"]\n'
    )
    assert encode_stream("x", 4) == b'["x",4]\n'


def test_a_sound_manifest_is_read_field_by_field() -> None:
    manifest = parse_manifest(_manifest())

    assert (manifest.event_count, manifest.first_position, manifest.last_position) == (2, 1, 3)
    assert manifest.created_at.isoformat() == "2024-05-01T10:00:00.500000+00:00"
    assert manifest.as_json() == {**MANIFEST, "created_at": "2024-05-01T10:00:00.500000Z"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{", "manifest.json is not valid JSON"),
        (b"[]", "manifest.json is not a JSON object."),
        (
            _manifest(format="zip"),
            "Not a TimeTracker ES backup: manifest.json names the format 'zip'",
        ),
        (_manifest(format_version=...), "manifest.json has no format_version."),
        (_manifest(format_version="1"), "manifest.json has no format_version."),
        (_manifest(format_version=True), "manifest.json has no format_version."),
        (
            _manifest(format_version=3),
            "Unknown archive format version 3: this service reads version 1.",
        ),
        (_manifest(event_count="2"), "manifest.json has no valid 'event_count'."),
        (_manifest(event_count=False), "manifest.json has no valid 'event_count'."),
        (_manifest(last_position=...), "manifest.json has no valid 'last_position'."),
        (_manifest(extra=1), "manifest.json has unknown fields: extra."),
        (_manifest(files={}), "manifest.json does not describe events.jsonl.gz."),
        (_manifest(created_at="yesterday"), "manifest.json has an invalid created_at."),
    ],
)
def test_a_manifest_that_is_not_sound_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ArchiveError) as refused:
        parse_manifest(data)
    assert str(refused.value).startswith(reason)


def test_only_a_tar_header_naming_the_manifest_first_looks_like_an_archive() -> None:
    header = bytearray(512)
    header[: len(b"manifest.json")] = b"manifest.json"
    header[257:263] = b"ustar\x00"

    assert looks_like_archive(bytes(header))
    assert not looks_like_archive(bytes(header[:511]))
    other = bytearray(header)
    other[:13] = b"events.jsonl."
    assert not looks_like_archive(bytes(other))
    assert not looks_like_archive(b"PK\x03\x04" + bytes(508))


def test_the_directory_gives_names_and_finds_only_archives_it_named(tmp_path: Path) -> None:
    directory = BackupDirectory(tmp_path / "backups")
    made = directory.new_path()
    safety = directory.new_path("safety")
    made.write_bytes(b"x")
    outside = tmp_path / "outside.tar"
    outside.write_bytes(b"x")
    linked = directory.path / "timetracker-backup-20240101T000000Z-00000000.tar"
    linked.symlink_to(outside)

    assert made.name.startswith("timetracker-backup-") and made.suffix == ".tar"
    assert safety.name.startswith("timetracker-safety-")
    assert directory.resolve(made.name) == made
    for name in ("../outside.tar", "outside.tar", made.name.upper(), f"{made.name}/", "", "."):
        with pytest.raises(BackupNameError):
            directory.resolve(name)
    for name in (linked.name, safety.name):  # a link; a name given but never written
        with pytest.raises(BackupNotFoundError):
            directory.resolve(name)
    listed = directory.list()
    assert [(item.filename, item.problem is not None) for item in listed] == [(made.name, True)]
    assert (directory.upload_path().parent, directory.upload_path().suffix) == (
        directory.path / "uploads",
        ".tar",
    )


def test_snapshot_and_backup_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@h/db",
            "SNAPSHOT_INTERVAL": "25",
            "BACKUP_DIR": str(tmp_path),
            "BACKUP_UPLOAD_MAX_BYTES": "2048",
        }
    )
    assert (settings.snapshot_interval, settings.backups_path) == (25, tmp_path)
    assert settings.backup_upload_max_bytes == 2048
    assert settings.event_store_env()["SNAPSHOT_INTERVAL"] == "25"
    defaults = Settings.from_env({"TIMETRACKER_DATA_DIR": str(tmp_path / "data")})
    assert defaults.snapshot_interval == 100
    assert defaults.backups_path == tmp_path / "data" / "backups"
    with pytest.raises(SettingsError, match="SNAPSHOT_INTERVAL must be at least 0"):
        Settings.from_env({"SNAPSHOT_INTERVAL": "-1"})
