"""A rebuild in parallel processes (shares of the aggregates) equals a one-runner replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis

from timetracker.commands.application import TimeTracking
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.projections.engine import rebuild as rebuild_module
from timetracker.projections.engine.rebuild import rebuild, rebuild_redis
from timetracker.projections.engine.redis_runner import RedisProjectionRunner
from timetracker.projections.engine.runner import ProjectionRunner, create_schema
from timetracker.projections.engine.verify import verify, verify_redis
from timetracker.projections.report_rollups import ReportRollupsProjection
from timetracker.projections.time_entries import TimeEntriesProjection

pytestmark = pytest.mark.integration
SHARES = 3  # more than this machine's cores is fine: each share is a process


def _history(store: TimeTracking, entries: int) -> None:
    """Entries of 7 users on 3 projects; some edited (also moved between days and
    projects), some deleted, some of those restored."""
    at = datetime(2024, 6, 1, tzinfo=UTC)
    stamp = Stamp(at=datetime.now(UTC), user_id=1, request_id="history", is_admin=True)
    projects = [Project.create(n, {"name": f"P{n}"}, stamp) for n in range(1, 4)]
    store.save(*projects)
    made: list[Entry] = []
    for n in range(1, entries + 1):
        start = at + timedelta(hours=5 * n)
        entry = Entry.create(
            n,
            1 + n % 7,
            projects[n % 3],
            None,
            {"start_time": start, "end_time": start + timedelta(minutes=10 + n % 50)},
            "api",
            stamp,
        )
        made.append(entry)
    store.save(*made)
    for entry in made[::4]:
        entry.edit({"notes": "edited", "billable": False}, projects[0], None, stamp)
    for entry in made[1::6]:
        start = entry.start_time + timedelta(days=1)
        entry.edit(
            {"start_time": start, "end_time": start + timedelta(hours=1)}, projects[2], None, stamp
        )
    for entry in made[2::5]:
        entry.delete(stamp)
    for entry in made[2::10]:
        entry.restore(projects[1], stamp)
    store.save(*made)


@pytest.fixture
def shares(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rebuilds use SHARES processes however short the log."""
    monkeypatch.setattr(rebuild_module, "partition_count", lambda events: SHARES)


@pytest.mark.usefixtures("shares")
def test_a_partitioned_rebuild_of_the_entries_table_equals_a_replay(
    store: TimeTracking, settings: Settings
) -> None:
    projection = TimeEntriesProjection()
    create_schema(settings.conninfo, [projection])
    _history(store, 300)
    live = ProjectionRunner(store, projection, settings.conninfo)
    live.catch_up()
    live.close()
    with psycopg.connect(settings.conninfo) as conn:
        before = conn.execute("SELECT * FROM time_entries ORDER BY id").fetchall()

    done = rebuild(store, projection, settings.conninfo)

    assert done.new_schema != done.old_schema
    with psycopg.connect(settings.conninfo) as conn:
        assert conn.execute("SELECT * FROM time_entries ORDER BY id").fetchall() == before
        left = conn.execute(
            "SELECT name FROM projection_tracking WHERE name LIKE 'time_entries%'"
        ).fetchall()
    assert left == [("time_entries",)]
    assert len(before) > 200
    assert verify(store, projection, settings.conninfo).mismatches == []


@pytest.mark.usefixtures("shares")
def test_a_partitioned_rebuild_of_the_rollups_equals_a_replay(
    store: TimeTracking, settings: Settings
) -> None:
    assert settings.redis_url is not None
    projection = ReportRollupsProjection()
    _history(store, 300)
    live = RedisProjectionRunner(store, projection, settings.redis_url, settings.redis_prefix)
    live.catch_up()
    live.close()

    done = rebuild_redis(store, projection, settings.redis_url, settings.redis_prefix)

    assert done.new_schema != done.old_schema
    client = redis.Redis.from_url(settings.redis_url)
    try:
        keys = [k.decode() for k in client.scan_iter(match=f"{done.new_schema}*")]
    finally:
        client.close()
    assert f"{done.new_schema}position" in keys
    assert not [key for key in keys if ":position:" in key]  # no share's position left
    assert len(keys) > 300
    assert (
        verify_redis(store, projection, settings.redis_url, settings.redis_prefix).mismatches == []
    )


def test_a_failed_redis_rebuild_leaves_no_keys_of_its_build(
    store: TimeTracking, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.redis_url is not None
    projection = ReportRollupsProjection()
    _history(store, 50)
    live = RedisProjectionRunner(store, projection, settings.redis_url, settings.redis_prefix)
    live.catch_up()
    live.close()
    client = redis.Redis.from_url(settings.redis_url)
    before = set(client.scan_iter(match=f"{settings.redis_prefix}*"))

    def broken_switch(*args: object) -> bool:
        raise redis.ConnectionError("lost Redis at the switch")

    monkeypatch.setattr(rebuild_module, "_switch_redis", broken_switch)
    try:
        with pytest.raises(redis.ConnectionError):
            rebuild_redis(store, projection, settings.redis_url, settings.redis_prefix)
        after = set(client.scan_iter(match=f"{settings.redis_prefix}*"))
    finally:
        client.close()
    counter = f"{settings.redis_prefix}generations:{projection.name}".encode()
    assert after - {counter} == before - {counter}
