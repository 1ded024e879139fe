"""The registry of resource kinds, and that every list of kinds derives from it."""

from __future__ import annotations

from eventsourcing.domain import Aggregate
from eventsourcing.utils import resolve_topic

from timetracker.commands import ids
from timetracker.domain import scopes
from timetracker.domain.kinds import AUDIT_SCOPE, BY_NAME, KINDS, kind_named
from timetracker.domain.values import aggregate_id
from timetracker.eventlog import reader
from timetracker.http import feed
from timetracker.http.paths import history_url


def test_each_kind_names_an_aggregate_whose_ids_live_in_its_namespace() -> None:
    for kind in KINDS:
        aggregate = resolve_topic(kind.aggregate)
        assert issubclass(aggregate, Aggregate), kind.name
        create_id = getattr(aggregate, "create_id", None)
        if kind.numbered and create_id is not None:
            assert create_id(5) == aggregate_id(kind.name, 5), kind.name


def test_names_are_unique_and_looked_up_by_name() -> None:
    assert len(BY_NAME) == len(KINDS)
    assert kind_named("time_entry").collection == "time-entries"
    assert kind_named("project").read_scope == "read:projects"
    assert kind_named("project").write_scope == "write:projects"
    assert kind_named("user").read_scope is None


def test_the_id_sequences_are_the_numbered_kinds() -> None:
    assert set(ids.KINDS) == {k.name for k in KINDS if k.numbered}
    assert "timer" not in ids.KINDS  # a timer is numbered by its user


def test_the_token_scopes_are_the_kinds_scopes() -> None:
    assert set(scopes.RESOURCES) == {k.scope for k in KINDS if k.scope}
    for kind in KINDS:
        if kind.scope:
            assert {kind.read_scope, kind.write_scope} <= scopes.KNOWN_SCOPES


def test_the_event_log_shows_every_kind_and_only_them() -> None:
    assert set(reader.RESOURCE_KINDS.values()) == set(BY_NAME)
    assert tuple(k.name for k in KINDS) == reader.RESOURCES
    assert {t.kind for t in reader.EVENT_TYPES.values()} == set(BY_NAME)


def test_the_feed_shows_each_kind_under_its_scope() -> None:
    assert {k.name: k.feed_scope for k in KINDS} == feed.SCOPE_OF_KIND
    assert {"time_entry", "timer", "webhook"} == feed.OWN_ONLY
    assert {k.name for k in KINDS if k.feed_scope == AUDIT_SCOPE} == {"user", "api_token"}


def test_a_history_url_comes_from_the_kinds_collection() -> None:
    assert history_url("time_entry", 5) == "/api/v1/time-entries/5/history"
    assert history_url("client", 2) == "/api/v1/clients/2/history"
