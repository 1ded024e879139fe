"""Per-entry contributions of the report rollups live in bucket hashes; a build written
before the buckets (a key per entry) still takes back exactly what an entry had added."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from timetracker.commands.application import TimeTracking
from timetracker.domain.entry import Entry
from timetracker.domain.project import Project
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings
from timetracker.projections.engine.redis_runner import RedisProjectionRunner
from timetracker.projections.redis_keys import generation_prefix, live_key
from timetracker.projections.report_rollups import ReportRollupsProjection, ReportRollupsView

pytestmark = pytest.mark.integration
STAMP = Stamp(at=datetime(2024, 7, 1, tzinfo=UTC), user_id=1, request_id="t", is_admin=True)


def _entries(store: TimeTracking, count: int) -> tuple[list[Entry], list[Project]]:
    projects = [Project.create(n, {"name": f"P{n}"}, STAMP) for n in (1, 2)]
    store.save(*projects)
    at = datetime(2024, 6, 1, 9, tzinfo=UTC)
    entries = [
        Entry.create(
            n,
            1 + n % 3,
            projects[n % 2],
            None,
            {
                "start_time": at + timedelta(hours=7 * n),
                "end_time": at + timedelta(hours=7 * n + 2),
            },
            "api",
            STAMP,
        )
        for n in range(1, count + 1)
    ]
    store.save(*entries)
    return entries, projects


def _live_data(client: redis.Redis, prefix: str) -> str:
    name = ReportRollupsProjection.name
    return generation_prefix(prefix, name, int(client.get(live_key(prefix, name)) or 0))


def follow_rollups(store: TimeTracking, settings: Settings) -> None:
    """Bring the live build under the settings' prefix up to the log's end."""
    assert settings.redis_url is not None
    runner = RedisProjectionRunner(
        store, ReportRollupsProjection(), settings.redis_url, settings.redis_prefix
    )
    try:
        runner.catch_up()
    finally:
        runner.close()


def _built(
    store: TimeTracking, settings: Settings, count: int
) -> tuple[list[Entry], list[Project], redis.Redis]:
    """`count` entries applied by the live build, and a client to look at it (to close)."""
    assert settings.redis_url is not None
    entries, projects = _entries(store, count)
    follow_rollups(store, settings)
    return entries, projects, redis.Redis.from_url(settings.redis_url, decode_responses=True)


def test_entry_contributions_are_fields_of_at_most_256_hashes(
    store: TimeTracking, settings: Settings
) -> None:
    entries, _, client = _built(store, settings, 200)
    try:
        data = _live_data(client, settings.redis_prefix)
        buckets = list(client.scan_iter(match=f"{data}rollup:entries:*", count=1000))
        stored = sum(client.hlen(bucket) for bucket in buckets)
        assert list(client.scan_iter(match=f"{data}rollup:entry:*", count=1000)) == []
    finally:
        client.close()
    assert stored == len(entries)
    assert len(buckets) <= 256
    assert all(len(bucket.rsplit(":", 1)[1]) == 2 for bucket in buckets)


def test_edits_and_deletions_of_entries_kept_by_an_older_build_take_back_what_they_added(
    store: TimeTracking, settings: Settings
) -> None:
    entries, projects, client = _built(store, settings, 40)
    try:
        data = _live_data(client, settings.redis_prefix)
        # Rewrite the build as one written before the buckets: a key per entry.
        for bucket in list(client.scan_iter(match=f"{data}rollup:entries:*", count=1000)):
            for entry_id, state in client.hgetall(bucket).items():
                client.set(f"{data}rollup:entry:{entry_id}", state)
            client.delete(bucket)
        edited, deleted, untouched = entries[0:10], entries[10:20], entries[20:]
        for entry in edited:
            start = entry.start_time + timedelta(days=2)
            entry.edit(
                {"start_time": start, "end_time": start + timedelta(minutes=30), "billable": False},
                projects[1],
                None,
                STAMP,
            )
        for entry in deleted:
            entry.delete(STAMP)
        store.save(*edited, *deleted)

        follow_rollups(store, settings)

        legacy = {
            key.rsplit(":", 1)[1]
            for key in client.scan_iter(match=f"{data}rollup:entry:*", count=1000)
        }
        moved = {
            entry_id
            for bucket in client.scan_iter(match=f"{data}rollup:entries:*", count=1000)
            for entry_id in client.hkeys(bucket)
        }
    finally:
        client.close()
    assert legacy == {entry.id.hex for entry in untouched}
    assert moved == {entry.id.hex for entry in edited}
    # Every day's sums equal those of a fresh build (in a keyspace of its own).
    assert _day_sums(store, settings, settings.redis_prefix) == _day_sums(
        store, settings, settings.redis_prefix + "fresh:"
    )


def _day_sums(store: TimeTracking, settings: Settings, prefix: str) -> dict[str, dict[str, str]]:
    """The day hashes of the live build under `prefix` (built first if there is none),
    without their zero fields."""
    assert settings.redis_url is not None
    follow_rollups(store, Settings(redis_url=settings.redis_url, redis_prefix=prefix))
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        data = _live_data(client, prefix)
        days = [
            key
            for kind in ("user", "all")
            for key in client.scan_iter(match=f"{data}rollup:{kind}:*", count=1000)
        ]
        # A field summed back to 0 and one never added to are the same.
        sums = {
            key[len(data) :]: {f: v for f, v in client.hgetall(key).items() if v != "0"}
            for key in days
        }
        sums = {key: fields for key, fields in sums.items() if fields}
    finally:
        client.close()
    assert sums
    return sums


async def test_a_window_asked_for_again_is_summed_again_only_once_the_build_has_moved(
    store: TimeTracking, settings: Settings
) -> None:
    assert settings.redis_url is not None
    entries, projects, client = _built(store, settings, 30)
    reader = AsyncRedis.from_url(settings.redis_url)
    view = ReportRollupsView(reader, settings.redis_prefix)
    first, last = date(2024, 6, 1), date(2024, 6, 30)
    try:
        before = await view.totals(first, last, None, None)
        assert sum(t.entries for t in before) == 30
        # Behind the build's back (its position unchanged), the days' sums vanish: the
        # view keeps answering what it summed, as Redis confirms nothing has moved.
        data = _live_data(client, settings.redis_prefix)
        days = list(client.scan_iter(match=f"{data}rollup:all:*", count=1000))
        client.delete(*days)
        assert await view.totals(first, last, None, None) == before
        assert await view.totals(first, last, None, projects[0].number) == [
            t for t in before if t.project_id == projects[0].number
        ]
        # The build moves on (an entry deleted): the window is summed again.
        entries[0].delete(STAMP)
        store.save(entries[0])
        follow_rollups(store, settings)
        after = await view.totals(first, last, None, None)
    finally:
        client.close()
        await reader.aclose()
    assert after != before
    assert sum(t.entries for t in after) < 30  # only the days the delete rewrote are back
