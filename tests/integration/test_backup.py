"""Backups and restores of the event store (BR-1, BR-2, BR-4): round trip into a fresh
database, damaged archives rejected by the dry run, point-in-time restores, consistency
while writers work, forced restores, maintenance."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gzip
import hashlib
import json
import tarfile
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient
from psycopg import sql

from tests.api.conftest import ApiUser, close_promptly
from tests.archives import (
    event_rows,
    flipped,
    header_offset,
    member_span,
    repacked,
    truncated,
)
from tests.conftest import ADMIN_URL, REDIS_URL, _url_with_dbname
from timetracker.backups.archive import (
    EVENTS,
    MANIFEST,
    STREAMS,
    SUMS,
    ArchiveError,
    create_backup,
    dump,
    encode_row,
    store_fingerprint,
    verify_archive,
)
from timetracker.backups.directory import BackupDirectory
from timetracker.backups.restore import (
    RESTORE_LOCK_KEY,
    RestoreIncompleteError,
    Restorer,
    RestoreRunningError,
    StoreNotEmptyError,
)
from timetracker.commands import maintenance
from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import (
    CreateEntry,
    CreateProject,
    DeleteEntry,
    EditEntry,
    StopTimer,
)
from timetracker.domain.values import Stamp
from timetracker.http.app import create_app
from timetracker.http.keys import read_pool_key, time_tracking_key
from timetracker.http.settings import Settings
from timetracker.ops.accounts import issue_token, register_user
from timetracker.projections.engine.replay import replay_all
from timetracker.projections.engine.tracking import wait_for
from timetracker.projections.engine.verify import verify, verify_redis
from timetracker.projections.registry import all_projections, redis_projections

AiohttpClient = Callable[..., Awaitable[TestClient]]
NAMES = [p.name for p in all_projections()] + [p.name for p in redis_projections()]
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


@pytest.fixture
def fresh(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a database created for this test (dropped at its end) and a new Redis
    keyspace: somewhere to restore into."""
    name = f"tt_restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield dataclasses.replace(
            settings,
            database_url=_url_with_dbname(ADMIN_URL, name),
            redis_prefix=f"{settings.redis_prefix}restored-{uuid.uuid4().hex[:6]}:",
            backup_dir=tmp_path / "fresh-backups",
        )
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def open_store() -> Iterator[Callable[[Settings], TimeTracking]]:
    """`open_store(settings)`: an event store (closed at the end of the test)."""
    opened: list[TimeTracking] = []

    def open_with(settings: Settings) -> TimeTracking:
        opened.append(TimeTracking(settings.event_store_env()))
        return opened[-1]

    yield open_with
    for store in opened:
        store.close()


def restorer(settings: Settings, store: TimeTracking) -> Restorer:
    """What `timetracker backup restore` and the admin API restore with."""

    def replay(progress: Any) -> dict[str, int]:
        return replay_all(
            store, settings.conninfo, settings.redis_url, settings.redis_prefix, progress
        )

    return Restorer(settings.conninfo, store.mapper, BackupDirectory(settings.backups_path), replay)


def _stamp(hours: float, user_id: int | None = 7) -> Stamp:
    return Stamp(at=BASE + timedelta(hours=hours), user_id=user_id, request_id=f"t{hours}")


def _seed(store: TimeTracking) -> None:
    """A project, entries (one edited, one deleted) and a timer run, through the commands."""
    project = store.create_project(CreateProject({"name": "Seeded"}, _stamp(0, None))).id
    for n in range(3):
        start = BASE + timedelta(hours=n)
        store.create_entry(
            CreateEntry(
                7,
                {
                    "project_id": project,
                    "start_time": start,
                    "end_time": start + timedelta(minutes=30),
                },
                _stamp(1),
            )
        )
    store.edit_entry(EditEntry(1, {"notes": "edited"}, _stamp(2)))
    store.delete_entry(DeleteEntry(2, _stamp(3)))
    store.start_timer(CreateEntry(7, {"project_id": project}, _stamp(4)))
    store.stop_timer(StopTimer(7, _stamp(5)))


def _snapshot_state(conninfo: str) -> dict[str, Any]:
    """Everything a restore could change besides the events: what must stay as it was."""
    with psycopg.connect(conninfo) as conn:
        sequences = {
            str(row[0]): int(row[1])
            for row in conn.execute(
                "SELECT sequencename, coalesce(last_value, 0) FROM pg_sequences"
                " WHERE sequencename LIKE 'timetracker_%' OR sequencename LIKE 'timetracking_%'"
            ).fetchall()
        }
        flag = maintenance.read_state(conn)
    return {"events": event_rows(conninfo), "sequences": sequences, "maintenance": flag}


# Round trip (BR-1) -------------------------------------------------------------------------


async def _user(api: TestClient, username: str, scopes: list[str], admin: bool = False) -> ApiUser:
    store = api.app[time_tracking_key]
    loop = asyncio.get_running_loop()
    user_id = await loop.run_in_executor(None, register_user, store, username, None, None, admin)
    issued = await loop.run_in_executor(None, issue_token, store, username, scopes, "t", None)
    assert await wait_for(api.app[read_pool_key], ["accounts"], issued.position, 5.0)
    return ApiUser(user_id, username, issued.token)


async def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _build_history(api: TestClient, admin: ApiUser, people: list[ApiUser]) -> list[str]:
    """Catalogue, entries, edits, deletions, restores and timers; the URLs to compare."""
    h = admin.headers
    client = (await _ok(await api.post("/api/v1/clients", json={"name": "Acme"}, headers=h)))[
        "client"
    ]["id"]
    site = await _ok(
        await api.post(
            "/api/v1/projects",
            json={"name": "Site", "client_id": client, "hourly_rate": 95},
            headers=h,
        )
    )
    project = site["project"]["id"]
    old = (await _ok(await api.post("/api/v1/projects", json={"name": "Old"}, headers=h)))[
        "project"
    ]["id"]
    await _ok(
        await api.patch(f"/api/v1/projects/{project}", json={"estimated_hours": 120}, headers=h),
        200,
    )
    await _ok(await api.delete(f"/api/v1/projects/{old}", headers=h), 200)
    task = (
        await _ok(
            await api.post(
                "/api/v1/tasks", json={"project_id": project, "name": "Design"}, headers=h
            )
        )
    )["task"]["id"]
    urls = [
        "/api/v1/projects",
        "/api/v1/projects?status=archived",
        f"/api/v1/projects/{project}",
        f"/api/v1/projects/{project}/history",
        "/api/v1/clients",
        f"/api/v1/clients/{client}",
        "/api/v1/tasks",
        f"/api/v1/tasks/{task}",
        "/api/v1/users",
        "/api/v1/events?limit=200",
        "/api/v1/reports/summary?start_date=2024-03-01&end_date=2024-03-31",
    ]
    for n, person in enumerate(people):
        ids = []
        for day in range(1, 6):
            body = {
                "project_id": project,
                "task_id": task if day % 2 else None,
                "start_time": f"2024-03-{day + n:02d}T09:00:00Z",
                "end_time": f"2024-03-{day + n:02d}T1{day}:15:00Z",
                "notes": f"{person.username} {day}",
                "tags": ["a", "b"] if day == 3 else [],
                "billable": day != 4,
            }
            created = await _ok(
                await api.post("/api/v1/time-entries", json=body, headers=person.headers)
            )
            ids.append(created["time_entry"]["id"])
        entries = "/api/v1/time-entries"
        await _ok(
            await api.patch(
                f"{entries}/{ids[0]}", json={"notes": "edited"}, headers=person.headers
            ),
            200,
        )
        await _ok(
            await api.patch(
                f"{entries}/{ids[1]}",
                json={"end_time": f"2024-03-{2 + n:02d}T17:45:00Z"},
                headers=person.headers,
            ),
            200,
        )
        await _ok(await api.delete(f"{entries}/{ids[2]}", headers=person.headers), 200)
        await _ok(await api.delete(f"{entries}/{ids[3]}", headers=person.headers), 200)
        await _ok(await api.post(f"{entries}/{ids[3]}/restore", headers=person.headers), 200)
        await _ok(
            await api.post(
                "/api/v1/timer/start", json={"project_id": project}, headers=person.headers
            )
        )
        await _ok(await api.post("/api/v1/timer/stop", headers=person.headers), 200)
        if n == 0:  # one timer left running
            await _ok(
                await api.post(
                    "/api/v1/timer/start", json={"project_id": project}, headers=person.headers
                )
            )
        urls += [
            f"{entries}?per_page=100&user={person.username}",
            f"{entries}/{ids[0]}?user={person.username}",
            f"{entries}/{ids[2]}?user={person.username}",  # deleted: 404 deleted
            f"{entries}/{ids[0]}/history?user={person.username}",
            f"{entries}?start_date=2024-03-02&end_date=2024-03-04&user={person.username}",
            f"/api/v1/timer/status?user={person.username}",
            f"/api/v1/users/me?user={person.username}",
            f"/api/v1/reports/summary?start_date=2024-03-01&end_date=2024-03-31&user={person.username}",
        ]
        urls.append(f"{entries}?user_id={person.id}&per_page=100")
    return urls


async def _answers(
    api: TestClient, urls: list[str], users: dict[str, ApiUser], admin: ApiUser
) -> dict[str, tuple[int, Any]]:
    answers = {}
    for url in urls:
        path, _, who = url.partition("user=")
        caller = users[who] if who else admin
        path = path.rstrip("?&")
        response = await api.get(path, headers=caller.headers)
        answers[url] = (response.status, await response.json())
    return answers


async def _caught_up(api: TestClient, settings: Settings) -> None:
    head = store_fingerprint(settings.conninfo).last_position
    postgres = [p.name for p in all_projections()]
    assert await wait_for(api.app[read_pool_key], postgres, head, 10.0)


@pytest.fixture
async def started(
    aiohttp_client: AiohttpClient,
) -> AsyncIterator[Callable[[Settings], Awaitable[TestClient]]]:
    """`await started(settings)`: the API on those settings (stopped at the end)."""
    running: list[tuple[TestClient, Settings]] = []

    async def start(settings: Settings) -> TestClient:
        client = await aiohttp_client(create_app(settings))
        running.append((client, settings))
        return client

    yield start
    for client, settings in running:
        await close_promptly(client, settings)


async def test_a_backup_restored_into_a_fresh_database_is_the_same_store_and_answers_the_same(
    fresh: Settings,  # before `started`: the database outlives the apps on it
    started: Callable[[Settings], Awaitable[TestClient]],
    settings: Settings,
    tmp_path: Path,
    open_store: Callable[[Settings], TimeTracking],
) -> None:
    api = await started(settings)
    admin = await _user(api, "root", ["admin:all"], admin=True)
    people = [await _user(api, name, ["read:*", "write:*"]) for name in ("alice", "bob")]
    urls = await _build_history(api, admin, people)
    await _caught_up(api, settings)
    users = {person.username: person for person in people}
    before = await _answers(api, urls, users, admin)
    assert {status for status, _ in before.values()} == {200, 404}
    assert sum(1 for status, _ in before.values() if status == 404) == 2  # the deleted entries

    archive = tmp_path / "store.tar"
    loop = asyncio.get_running_loop()
    manifest = await loop.run_in_executor(None, create_backup, settings.conninfo, archive)
    target = open_store(fresh)
    plan = await loop.run_in_executor(None, restorer(fresh, target).plan, archive)
    report = await loop.run_in_executor(None, restorer(fresh, target).restore, plan)

    original = store_fingerprint(settings.conninfo)
    restored = store_fingerprint(fresh.conninfo)
    assert manifest.event_count == original.event_count == restored.event_count == report.events
    assert manifest.last_position == original.last_position == restored.last_position
    assert restored.streams == original.streams
    assert len(restored.streams) == manifest.stream_count == report.streams
    assert manifest.events_sha256 == original.events_sha256 == restored.events_sha256
    assert report.events_sha256 == manifest.events_sha256
    assert report.read_models == dict.fromkeys(NAMES, manifest.last_position)
    assert report.ids == {
        "user": 3,
        "api_token": 3,
        "client": 1,
        "project": 2,
        "task": 1,
        "time_entry": 13,  # alice: 5 and 2 timers; bob: 5 and 1 timer
        "webhook": 0,
    }

    again = await started(fresh)
    after = await _answers(again, urls, users, admin)
    assert after == before
    # New writes continue the restored numbering.
    created = await again.post("/api/v1/projects", json={"name": "Next"}, headers=admin.headers)
    assert (await _ok(created))["project"]["id"] == 3
    timer = await again.post(
        "/api/v1/time-entries",
        json={
            "project_id": 1,
            "start_time": "2024-04-01T09:00:00Z",
            "end_time": "2024-04-01T10:00:00Z",
        },
        headers=people[1].headers,
    )
    assert (await _ok(timer))["time_entry"]["id"] == 14


# Consistency while writers work -----------------------------------------------------------


def test_a_backup_holds_the_log_as_of_its_start_while_writers_carry_on(
    store: TimeTracking, settings: Settings, tmp_path: Path
) -> None:
    _seed(store)
    seeded = store_fingerprint(settings.conninfo)
    archive = tmp_path / "b.tar"
    written: list[int] = []
    with psycopg.connect(settings.conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            conn.execute("SELECT 1")  # the snapshot is taken here

            def write() -> None:
                for n in range(20):
                    stamp = _stamp(10 + n, None)
                    written.append(store.create_project(CreateProject({"name": f"W{n}"}, stamp)).id)

            writer = threading.Thread(target=write)
            writer.start()
            writer.join(timeout=30)  # writers are not held up by the open backup
            assert not writer.is_alive()
            assert len(written) == 20
            manifest = dump(conn, archive)

    assert manifest.event_count == seeded.event_count
    assert manifest.last_position == seeded.last_position
    assert manifest.events_sha256 == seeded.events_sha256
    assert store_fingerprint(settings.conninfo).event_count == seeded.event_count + 20
    assert verify_archive(archive).manifest == manifest


def test_the_archive_is_readable_with_standard_tools_and_lists_every_stream(
    store: TimeTracking, settings: Settings, tmp_path: Path
) -> None:
    _seed(store)
    archive = tmp_path / "b.tar"
    manifest = create_backup(settings.conninfo, archive)
    with tarfile.open(archive) as tar:
        assert tar.getnames() == [MANIFEST, EVENTS, STREAMS, SUMS]
        files = {name: tar.extractfile(name).read() for name in tar.getnames()}  # type: ignore[union-attr]
    document = json.loads(files[MANIFEST])
    assert document["format"] == "timetracker-es-backup"
    assert document["format_version"] == 1
    events = gzip.decompress(files[EVENTS])
    assert hashlib.sha256(events).hexdigest() == document["events_sha256"]
    rows = [json.loads(line) for line in events.splitlines()]
    stored = event_rows(settings.conninfo)
    assert [(r[0], r[2], r[3], base64.b64decode(r[4])) for r in rows] == [
        (s[0], s[2], s[3], bytes(s[4])) for s in stored
    ]
    streams = [json.loads(line) for line in gzip.decompress(files[STREAMS]).splitlines()]
    assert dict(streams) == store_fingerprint(settings.conninfo).streams
    assert len(streams) == manifest.stream_count
    sums = dict(reversed(line.split("  ")) for line in files[SUMS].decode().splitlines())
    assert sums == {
        name: hashlib.sha256(files[name]).hexdigest() for name in (MANIFEST, EVENTS, STREAMS)
    }
    first = stored[0]
    assert (
        encode_row((first[0], str(first[1]), first[2], first[3], bytes(first[4])))
        == events.splitlines(keepends=True)[0]
    )


# Damaged archives (BR-2) ------------------------------------------------------------------


def _damage(kind: str, archive: Path, out: Path) -> Path:
    """A damaged copy of `archive` (see DAMAGE for what each kind does)."""
    size = archive.stat().st_size
    if kind == "byte in the events":
        start, length = member_span(archive, EVENTS)
        return flipped(archive, start + length // 2, out)
    if kind == "byte in the stream table":
        start, length = member_span(archive, STREAMS)
        return flipped(archive, start + length // 2, out)
    if kind == "byte in the manifest":
        start, _ = member_span(archive, MANIFEST)
        return flipped(
            archive, start + archive.read_bytes()[start:].index(b'"event_count"') + 16, out
        )
    if kind == "digit in the manifest":
        start, _ = member_span(archive, MANIFEST)
        at = start + archive.read_bytes()[start:].index(b'"last_position": ') + 17
        data = bytearray(archive.read_bytes())
        data[at] = ord("1") if data[at] != ord("1") else ord("2")
        out.write_bytes(bytes(data))
        return out
    if kind == "byte in SHA256SUMS":
        start, _ = member_span(archive, SUMS)
        return flipped(archive, start + 3, out)
    if kind == "hex digit in SHA256SUMS":
        start, _ = member_span(archive, SUMS)
        data = bytearray(archive.read_bytes())
        data[start + 3] = ord("0") if data[start + 3] != ord("0") else ord("1")
        out.write_bytes(bytes(data))
        return out
    if kind == "byte in a tar header":
        return flipped(archive, header_offset(archive, STREAMS) + 2, out)
    if kind == "byte in the padding":
        start, length = member_span(archive, MANIFEST)
        assert length % 512 < 511  # there is padding after it
        return flipped(archive, start + length + 1, out)
    if kind == "byte at the very end":
        return flipped(archive, size - 1, out)
    if kind == "cut in the events":
        start, length = member_span(archive, EVENTS)
        return truncated(archive, start + length // 2, out)
    if kind == "cut before the end blocks":
        start, length = member_span(archive, SUMS)
        return truncated(archive, start + 512, out)
    if kind == "cut to a few bytes":
        return truncated(archive, 100, out)
    if kind == "no manifest":
        return repacked(archive, out, leave_out=(MANIFEST,))
    if kind == "no SHA256SUMS":
        return repacked(archive, out, leave_out=(SUMS,))
    if kind == "unknown format version":
        return repacked(archive, out, manifest=lambda d: d.update(format_version=2))
    if kind == "another format":
        return repacked(archive, out, manifest=lambda d: d.update(format="pg_dump"))
    if kind == "not a tar file":
        out.write_bytes(b"PK\x03\x04" + b"\0" * 2000)
        return out
    raise AssertionError(kind)


# Each kind of damage and the start of the reason the dry run gives.
DAMAGE = {
    "byte in the events": (
        "events.jsonl.gz is damaged",
        "Event line",
        "Checksum or count mismatch in the events",
    ),
    "byte in the stream table": (
        "streams.jsonl.gz is damaged",
        "Stream line",
        "The per-stream versions in streams.jsonl.gz disagree",
        "Checksum or count mismatch in the files: SHA-256 of the stream table",
        "Checksum or count mismatch in the files: SHA-256 of streams.jsonl.gz",
    ),
    "byte in the manifest": ("manifest.json is not valid JSON",),
    "digit in the manifest": ("Checksum or count mismatch in the events: last position is",),
    "byte in SHA256SUMS": ("SHA256SUMS is damaged",),
    "hex digit in SHA256SUMS": (
        "Checksum or count mismatch in the files: SHA256SUMS entry for manifest.json",
    ),
    "byte in a tar header": (
        "The archive lacks streams.jsonl.gz, SHA256SUMS: it is truncated or damaged.",
    ),
    "byte in the padding": ("The padding after manifest.json is damaged.",),
    "byte at the very end": ("The archive's end is damaged",),
    "cut in the events": ("The archive is damaged or incomplete (unexpected end of data).",),
    "cut before the end blocks": ("The archive's end is missing: it is truncated.",),
    "cut to a few bytes": ("Not a readable tar archive",),
    "no manifest": ("The archive has no manifest.json",),
    "no SHA256SUMS": ("The archive lacks SHA256SUMS: it is truncated or damaged.",),
    "unknown format version": ("Unknown archive format version 2: this service reads version 1.",),
    "another format": ("Not a TimeTracker ES backup: manifest.json names the format 'pg_dump'",),
    "not a tar file": ("Not a readable tar archive",),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_the_dry_run_rejects_a_damaged_archive_with_its_reason_and_changes_nothing(
    kind: str, store: TimeTracking, settings: Settings, tmp_path: Path
) -> None:
    _seed(store)
    archive = tmp_path / "good.tar"
    create_backup(settings.conninfo, archive)
    damaged = _damage(kind, archive, tmp_path / "damaged.tar")
    assert damaged.read_bytes() != archive.read_bytes()
    before = _snapshot_state(settings.conninfo)

    with pytest.raises(ArchiveError) as rejected:
        restorer(settings, store).plan(damaged, force=True)

    assert str(rejected.value).startswith(DAMAGE[kind]), str(rejected.value)
    with pytest.raises(ArchiveError) as again:
        verify_archive(damaged)
    assert str(again.value) == str(rejected.value)
    assert _snapshot_state(settings.conninfo) == before
    assert verify_archive(archive).manifest.event_count == len(before["events"])


def test_an_archive_damaged_after_its_dry_run_is_caught_while_loading_and_rolled_back(
    store: TimeTracking, settings: Settings, tmp_path: Path
) -> None:
    _seed(store)
    archive = tmp_path / "b.tar"
    create_backup(settings.conninfo, archive)
    plan = restorer(settings, store).plan(archive, force=True)
    start, length = member_span(archive, EVENTS)
    flipped(archive, start + length - 8, archive)  # the gzip trailer: CRC of the data
    before = _snapshot_state(settings.conninfo)

    with pytest.raises(ArchiveError, match=r"events\.jsonl\.gz is damaged"):
        restorer(settings, store).restore(plan)

    assert _snapshot_state(settings.conninfo) == before


# Point in time (BR-4) ---------------------------------------------------------------------


def test_until_restores_history_up_to_a_moment_and_the_read_models_match_it(
    store: TimeTracking,
    settings: Settings,
    fresh: Settings,
    tmp_path: Path,
    open_store: Callable[[Settings], TimeTracking],
) -> None:
    project = store.create_project(CreateProject({"name": "Early"}, _stamp(1, None))).id
    for n in range(2):
        start = BASE + timedelta(hours=n)
        values = {
            "project_id": project,
            "start_time": start,
            "end_time": start + timedelta(hours=1),
        }
        store.create_entry(CreateEntry(7, values, _stamp(1)))
    store.edit_entry(EditEntry(1, {"notes": "at two"}, _stamp(2)))
    store.delete_entry(DeleteEntry(2, _stamp(2)))
    store.create_project(CreateProject({"name": "Middle"}, _stamp(2, None)))
    store.start_timer(CreateEntry(7, {"project_id": project}, _stamp(2)))  # entry 3, running
    store.stop_timer(StopTimer(7, _stamp(3)))
    store.create_project(CreateProject({"name": "Late"}, _stamp(3, None)))
    store.create_entry(
        CreateEntry(
            7,
            {"project_id": project, "start_time": BASE, "end_time": BASE + timedelta(minutes=5)},
            _stamp(3),
        )
    )
    rows = event_rows(settings.conninfo)
    archive = tmp_path / "b.tar"
    create_backup(settings.conninfo, archive)
    target = open_store(fresh)
    cut = BASE + timedelta(hours=2)  # events at exactly this moment are kept

    plan = restorer(fresh, target).plan(archive, until=cut)
    report = restorer(fresh, target).restore(plan)

    kept = [row for row in rows if target.mapper.transcoder.decode(row[4])["timestamp"] <= cut]
    assert 0 < len(kept) < len(rows)
    assert kept == rows[: len(kept)]
    assert plan.events_to_restore == report.events == len(kept)
    assert event_rows(fresh.conninfo) == kept
    restored = store_fingerprint(fresh.conninfo)
    digest = hashlib.sha256(
        b"".join(encode_row((r[0], str(r[1]), r[2], r[3], bytes(r[4]))) for r in kept)
    ).hexdigest()
    assert restored.events_sha256 == report.events_sha256 == digest
    assert restored.last_position == report.last_position == kept[-1][0]
    assert report.ids["time_entry"] == 3 and report.ids["project"] == 2
    for projection in all_projections():
        checked = verify(target, projection, fresh.conninfo)
        assert checked.ok, (projection.name, checked.mismatches)
    for redis_projection in redis_projections():
        checked = verify_redis(target, redis_projection, REDIS_URL, fresh.redis_prefix)
        assert checked.ok, (redis_projection.name, checked.mismatches)
    with psycopg.connect(fresh.conninfo) as conn:
        entries = conn.execute(
            "SELECT id, notes, end_time IS NULL FROM time_entries ORDER BY id"
        ).fetchall()
        projects = conn.execute("SELECT name FROM projects ORDER BY id").fetchall()
    assert entries == [(1, "at two", False), (3, None, True)]  # 2 deleted, 3 still running
    assert projects == [("Early",), ("Middle",)]
    assert target.ids.next_id("time_entry") == 4
    assert target.ids.next_id("project") == 3


# Empty stores, forced restores, one restore at a time, maintenance ------------------------


def test_a_store_with_events_is_replaced_only_when_forced_after_a_safety_backup(
    store: TimeTracking,
    settings: Settings,
    fresh: Settings,
    tmp_path: Path,
    open_store: Callable[[Settings], TimeTracking],
) -> None:
    _seed(store)
    archive = tmp_path / "b.tar"
    manifest = create_backup(settings.conninfo, archive)
    target = open_store(fresh)
    target.create_project(CreateProject({"name": "Already here"}, _stamp(0, None)))
    there = store_fingerprint(fresh.conninfo)
    before = _snapshot_state(fresh.conninfo)

    with pytest.raises(
        StoreNotEmptyError, match="The event store holds 1 event: restoring replaces them"
    ):
        restorer(fresh, target).plan(archive)
    assert _snapshot_state(fresh.conninfo) == before

    report = restorer(fresh, target).restore(restorer(fresh, target).plan(archive, force=True))

    assert store_fingerprint(fresh.conninfo).events_sha256 == manifest.events_sha256
    assert report.safety_backup is not None
    assert report.safety_backup.parent == fresh.backups_path
    assert report.safety_backup.name.startswith("timetracker-safety-")
    safety = verify_archive(report.safety_backup).manifest
    assert (safety.event_count, safety.events_sha256) == (there.event_count, there.events_sha256)
    with psycopg.connect(fresh.conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM timetracking_snapshots").fetchone() == (0,)
        assert maintenance.read_state(conn) is None


def test_writes_are_refused_by_the_database_during_maintenance(
    store: TimeTracking, settings: Settings
) -> None:
    from eventsourcing.persistence import PersistenceError

    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        maintenance.enter(conn, "restore")
        try:
            with pytest.raises(PersistenceError, match="in maintenance"):
                store.create_project(CreateProject({"name": "Refused"}, _stamp(0, None)))
            assert event_rows(settings.conninfo) == []
        finally:
            maintenance.leave(conn)
    store.create_project(CreateProject({"name": "Accepted"}, _stamp(0, None)))
    assert [row[3] for row in event_rows(settings.conninfo)] == [
        "timetracker.domain.project:Project.Created"
    ]


def test_one_restore_at_a_time(store: TimeTracking, settings: Settings, tmp_path: Path) -> None:
    _seed(store)
    archive = tmp_path / "b.tar"
    create_backup(settings.conninfo, archive)
    plan = restorer(settings, store).plan(archive, force=True)
    before = _snapshot_state(settings.conninfo)
    with psycopg.connect(settings.conninfo, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (RESTORE_LOCK_KEY,))
        with pytest.raises(RestoreRunningError):
            restorer(settings, store).restore(plan)
    assert _snapshot_state(settings.conninfo) == before


def test_a_failed_read_model_rebuild_keeps_maintenance_on_and_says_how_to_finish(
    store: TimeTracking,
    settings: Settings,
    fresh: Settings,
    tmp_path: Path,
    open_store: Callable[[Settings], TimeTracking],
) -> None:
    _seed(store)
    archive = tmp_path / "b.tar"
    manifest = create_backup(settings.conninfo, archive)
    target = open_store(fresh)

    def broken(progress: Any) -> dict[str, int]:
        raise RuntimeError("Redis went away")

    failing = Restorer(fresh.conninfo, target.mapper, BackupDirectory(fresh.backups_path), broken)
    with pytest.raises(
        RestoreIncompleteError, match=r"run `timetracker projections rebuild --all`"
    ):
        failing.restore(failing.plan(archive))

    assert store_fingerprint(fresh.conninfo).events_sha256 == manifest.events_sha256
    with psycopg.connect(fresh.conninfo, autocommit=True) as conn:
        state = maintenance.read_state(conn)
        assert state is not None and state.reason == "restore"
        maintenance.leave(conn)
