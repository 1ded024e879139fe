"""Archives crafted to get past verify: a decompression bomb, foreign topics, states the
service cannot decode, damage that keeps gzip valid and lines canonical, an archive
rewritten after its dry run; and who may read the archives on disk."""

from __future__ import annotations

import base64
import os
import stat
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
import pytest

from tests.archives import event_rows, with_events, with_inflating_events
from tests.integration.test_backup import _seed, _snapshot_state, restorer
from timetracker.backups.archive import ArchiveError, create_backup, verify_archive
from timetracker.backups.directory import BackupDirectory
from timetracker.commands import maintenance
from timetracker.commands.application import TimeTracking
from timetracker.http.settings import Settings

pytestmark = pytest.mark.integration


def _changed_state(line: bytes, state: bytes) -> bytes:
    fields = orjson.loads(line)
    fields[4] = base64.b64encode(state).decode()
    return orjson.dumps(fields) + b"\n"


def _changed_topic(line: bytes, topic: str) -> bytes:
    fields = orjson.loads(line)
    fields[3] = topic
    return orjson.dumps(fields) + b"\n"


@pytest.fixture
def archive(store: TimeTracking, settings: Settings, tmp_path: Path) -> Path:
    _seed(store)
    path = tmp_path / "good.tar"
    create_backup(settings.conninfo, path)
    return path


def test_a_decompression_bomb_is_refused_before_it_is_held_in_memory(
    archive: Path, tmp_path: Path
) -> None:
    bomb = with_inflating_events(archive, tmp_path / "bomb.tar", 256 * 1024 * 1024)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match=r"longer than|inflates to more"):
            verify_archive(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"


def test_a_topic_that_is_not_one_of_the_services_event_classes_is_refused(
    archive: Path, store: TimeTracking, settings: Settings, tmp_path: Path
) -> None:
    foreign = with_events(
        archive,
        tmp_path / "foreign.tar",
        lambda lines: [_changed_topic(lines[0], "tempfile:_TemporaryFileCloser"), *lines[1:]],
    )
    before = _snapshot_state(settings.conninfo)
    for check in (verify_archive, lambda path: restorer(settings, store).plan(path, force=True)):
        with pytest.raises(ArchiveError, match="not one of this service's event classes"):
            check(foreign)
    assert _snapshot_state(settings.conninfo) == before


@pytest.mark.parametrize(
    "state", [b"[1, 2]", b"\xff\xfe not utf-8", b'{"no": "timestamp"}', b"null"]
)
def test_a_state_the_service_cannot_decode_is_refused_by_verify_and_the_dry_run(
    state: bytes, archive: Path, store: TimeTracking, settings: Settings, tmp_path: Path
) -> None:
    bad = with_events(
        archive,
        tmp_path / "bad.tar",
        lambda lines: [*lines[:2], _changed_state(lines[2], state), *lines[3:]],
    )
    with pytest.raises(ArchiveError, match="Event line 3 has a state the service cannot decode"):
        verify_archive(bad)
    plan = restorer(settings, store).plan
    for until in (None, datetime.now(UTC)):  # with `until` it reads timestamps too
        with pytest.raises(ArchiveError, match="cannot decode"):
            plan(bad, until=until, force=True)


def test_damage_that_keeps_gzip_valid_and_lines_canonical_is_caught_by_the_events_checksum(
    archive: Path, tmp_path: Path
) -> None:
    def edit(lines: list[bytes]) -> list[bytes]:
        fields = orjson.loads(lines[1])
        state = orjson.loads(base64.b64decode(fields[4]))
        state["request_id"] = "rewritten"
        return [lines[0], _changed_state(lines[1], orjson.dumps(state)), *lines[2:]]

    damaged = with_events(archive, tmp_path / "edited.tar", edit, fix_events_sha256=False)
    with pytest.raises(ArchiveError, match="SHA-256 of the events"):
        verify_archive(damaged)


def test_an_archive_rewritten_consistently_after_its_dry_run_is_not_loaded(
    archive: Path, store: TimeTracking, settings: Settings, tmp_path: Path
) -> None:
    plan = restorer(settings, store).plan(archive, force=True)
    rows_before = event_rows(settings.conninfo)

    def edit(lines: list[bytes]) -> list[bytes]:
        fields = orjson.loads(lines[1])
        state = orjson.loads(base64.b64decode(fields[4]))
        state["request_id"] = "rewritten after the dry run"
        return [lines[0], _changed_state(lines[1], orjson.dumps(state)), *lines[2:]]

    rewritten = with_events(archive, tmp_path / "rewritten.tar", edit)
    verify_archive(rewritten)  # a sound archive in itself, only not the one verified
    rewritten.replace(archive)

    with pytest.raises(ArchiveError, match="changed since its dry run"):
        restorer(settings, store).restore(plan)

    assert event_rows(settings.conninfo) == rows_before  # rolled back
    with psycopg.connect(settings.conninfo) as conn:
        assert maintenance.read_state(conn) is None


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield None
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_backups_and_uploads_are_the_owners_alone_whatever_the_umask(
    store: TimeTracking, settings: Settings, tmp_path: Path
) -> None:
    _seed(store)
    directory = BackupDirectory(tmp_path / "data" / "backups")
    archive = directory.new_path()
    create_backup(settings.conninfo, archive)
    upload = directory.create_upload()
    assert _mode(directory.path) == 0o700
    assert _mode(directory.path / "uploads") == 0o700
    assert _mode(archive) == 0o600
    assert _mode(upload) == 0o600


def test_start_up_tightens_a_backup_directory_others_can_read(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    (folder / "uploads").mkdir(parents=True)
    loose = folder / "timetracker-backup-20240101T000000Z-0123abcd.tar"
    loose.write_bytes(b"x")
    for path, mode in ((folder, 0o755), (folder / "uploads", 0o777), (loose, 0o644)):
        os.chmod(path, mode)

    tightened = BackupDirectory(folder).secure()

    assert set(tightened) == {folder, folder / "uploads", loose}
    assert (_mode(folder), _mode(folder / "uploads"), _mode(loose)) == (0o700, 0o700, 0o600)
    assert BackupDirectory(folder).secure() == []
