"""Replaying every read model (after a restore) leaves one build of each Redis read model."""

from __future__ import annotations

import psycopg
import pytest
import redis

from tests.integration.history import build_catalogue
from timetracker.commands.application import TimeTracking
from timetracker.http.settings import Settings
from timetracker.projections.engine import replay as replay_module
from timetracker.projections.engine.rebuild import generation_counter_key
from timetracker.projections.engine.replay import _drop_other_builds, replay_all
from timetracker.projections.engine.verify import verify, verify_redis
from timetracker.projections.redis_keys import generation_prefix, live_key, tracking_key
from timetracker.projections.registry import all_projections, redis_projections

pytestmark = pytest.mark.integration


def test_builds_present_before_a_replay_are_dropped_and_the_replayed_one_is_live(
    store: TimeTracking, settings: Settings
) -> None:
    assert settings.redis_url is not None
    prefix = settings.redis_prefix
    build_catalogue(store, projects=5)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        # A build of the replaced history, numbered 4 (counted out), with data.
        for name in ("running_timers", "report_rollups"):
            client.set(generation_counter_key(prefix, name), 4)
            client.set(tracking_key(prefix, name, 4), 12)
            client.set(f"{generation_prefix(prefix, name, 4)}stale", "x")

        positions = replay_all(store, settings.conninfo, settings.redis_url, prefix)

        for projection in redis_projections():
            name = projection.name
            live = int(client.get(live_key(prefix, name)) or 0)
            assert live not in (0, 4)
            assert positions[name] == store.recorder.max_notification_id()
            left = set(client.scan_iter(match=f"{prefix}{name}:g*"))
            assert all(key.startswith(generation_prefix(prefix, name, live)) for key in left)
            found = verify_redis(store, projection, settings.redis_url, prefix)
            assert found.mismatches == []
    finally:
        client.close()


def test_at_the_end_builds_other_than_the_live_one_are_found_by_number_and_dropped(
    settings: Settings,
) -> None:
    assert settings.redis_url is not None
    prefix, name = settings.redis_prefix, "report_rollups"
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        client.set(generation_counter_key(prefix, name), 5)
        client.set(live_key(prefix, name), 3)
        for generation in (1, 3, 5):  # 1: a first build by a server runner; 5: a rebuild's
            client.set(tracking_key(prefix, name, generation), 7)
            client.set(f"{generation_prefix(prefix, name, generation)}rollup:all:2024-01-01", 1)

        _drop_other_builds(client, prefix, name)

        left = set(client.scan_iter(match=f"{prefix}{name}:g*"))
        assert left == {
            tracking_key(prefix, name, 3),
            f"{generation_prefix(prefix, name, 3)}rollup:all:2024-01-01",
        }
    finally:
        client.close()


@pytest.mark.parametrize("shares", [2, 3])
def test_a_replay_in_shares_leaves_every_read_model_as_a_fresh_replay_would(
    store: TimeTracking, settings: Settings, monkeypatch: pytest.MonkeyPatch, shares: int
) -> None:
    assert settings.redis_url is not None
    prefix = settings.redis_prefix
    build_catalogue(store, projects=5)
    monkeypatch.setattr(replay_module, "replay_shares", lambda events: shares)
    reported: list[tuple[str, int, int]] = []

    positions = replay_all(
        store,
        settings.conninfo,
        settings.redis_url,
        prefix,
        lambda phase, done, total: reported.append((phase, done, total)),
    )

    head = store.recorder.max_notification_id()
    assert set(positions.values()) == {head}
    assert reported[-1] == (replay_module.PHASE, head, head)
    assert [done for _, done, _ in reported] == sorted(done for _, done, _ in reported)
    for projection in all_projections():
        assert verify(store, projection, settings.conninfo).mismatches == [], projection.name
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        with psycopg.connect(settings.conninfo) as conn:
            left = conn.execute(
                "SELECT name FROM projection_tracking WHERE name LIKE '%%:p%%of%%'"
            ).fetchall()
        assert left == []
        for projection in redis_projections():
            live = int(client.get(live_key(prefix, projection.name)) or 0)
            assert live > 0
            builds = set(client.scan_iter(match=f"{prefix}{projection.name}:g*"))
            assert builds and all(
                key.startswith(generation_prefix(prefix, projection.name, live)) for key in builds
            )
            assert not [key for key in builds if ":position:" in key]  # no share positions
            found = verify_redis(store, projection, settings.redis_url, prefix)
            assert found.mismatches == [], projection.name
    finally:
        client.close()
