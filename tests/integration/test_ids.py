"""Public ids from PostgreSQL sequences: distinct, increasing, never reused."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from timetracker.commands.application import TimeTracking
from timetracker.commands.ids import KINDS, PostgresIdSequences
from timetracker.commands.messages import RegisterUser
from timetracker.domain.errors import NameTakenError
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings

pytestmark = pytest.mark.integration

THREADS = 8
PER_THREAD = 40


def test_the_store_numbers_from_postgresql_sequences(store: TimeTracking) -> None:
    assert isinstance(store.ids, PostgresIdSequences)


def test_ids_taken_by_concurrent_threads_are_distinct_and_increasing(
    store: TimeTracking,
) -> None:
    barrier = threading.Barrier(THREADS)

    def take(_: int) -> list[int]:
        barrier.wait()
        return [store.ids.next_id("time_entry") for _ in range(PER_THREAD)]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        taken = list(pool.map(take, range(THREADS)))

    for ids in taken:
        assert all(a < b for a, b in itertools.pairwise(ids))
    every = sorted(i for ids in taken for i in ids)
    assert every == list(range(1, THREADS * PER_THREAD + 1))


def test_each_kind_of_resource_has_its_own_sequence(store: TimeTracking) -> None:
    assert [store.ids.next_id(kind) for kind in KINDS] == [1] * len(KINDS)
    assert store.ids.next_id("project") == 2
    assert store.ids.next_id("client") == 2


def test_ids_continue_after_the_store_is_opened_again(
    store: TimeTracking, settings: Settings
) -> None:
    assert [store.ids.next_id("task") for _ in range(3)] == [1, 2, 3]
    reopened = TimeTracking(settings.event_store_env())
    try:
        assert reopened.ids.next_id("task") == 4
    finally:
        reopened.close()


def test_a_refused_command_leaves_a_gap_never_a_duplicate(store: TimeTracking) -> None:
    stamp = Stamp(at=datetime(2024, 1, 1, tzinfo=UTC), user_id=None, request_id="r")
    assert store.register_user(RegisterUser("alice", None, None, "user", stamp)).id == 1
    with pytest.raises(NameTakenError):
        store.register_user(RegisterUser("Alice", None, None, "user", stamp))
    assert store.register_user(RegisterUser("bob", None, None, "user", stamp)).id == 3
