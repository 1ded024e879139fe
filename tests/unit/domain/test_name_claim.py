"""The NameClaim aggregate: take, retake and release a unique name."""

from __future__ import annotations

import pytest

from tests.unit.domain.replay import replay, state
from tests.unit.domain.stamps import ACTOR, assert_stamped, stamp
from timetracker.domain.errors import NameTakenError
from timetracker.domain.name_claim import NameClaim, claim_id


def taken(holder: int = 1) -> NameClaim:
    claim = NameClaim.take("client", "Acme", holder, stamp(request_id="req-take"))
    claim.collect_events()
    return claim


def test_taking_a_name_records_the_claim_and_its_holder() -> None:
    claim = NameClaim.take("client", "Acme", 1, stamp(request_id="req-take"))
    [claimed] = claim.pending_events
    assert isinstance(claimed, NameClaim.Claimed)
    assert (claimed.kind, claimed.name, claimed.holder) == ("client", "Acme", 1)
    assert (claimed.actor, claimed.request_id, claimed.timestamp) == (
        ACTOR,
        "req-take",
        stamp().at,
    )
    assert claim.holder == 1
    assert claim.id == claim_id("client", "Acme")


def test_a_claim_id_ignores_case_and_surrounding_spaces() -> None:
    assert claim_id("client", "  ACME ") == claim_id("client", "acme")
    assert claim_id("client", "Straße") == claim_id("client", "STRASSE")


def test_a_claim_id_differs_by_kind_and_name() -> None:
    assert claim_id("client", "acme") != claim_id("user", "acme")
    assert claim_id("client", "acme") != claim_id("client", "acme2")


def test_another_holder_cannot_retake_a_held_name() -> None:
    claim = taken(holder=1)
    with pytest.raises(NameTakenError) as caught:
        claim.retake(2, stamp(1))
    assert str(caught.value) == "The client name 'Acme' is taken."
    assert claim.pending_events == []
    assert claim.holder == 1


def test_the_holder_retaking_its_own_name_records_nothing() -> None:
    claim = taken(holder=1)
    claim.retake(1, stamp(1))
    assert claim.pending_events == []
    assert claim.holder == 1


def test_releasing_by_the_holder_frees_the_name() -> None:
    claim = taken(holder=1)
    claim.release(1, stamp(1, request_id="req-release"))
    [released] = claim.pending_events
    assert isinstance(released, NameClaim.Released)
    assert released.originator_version == 2
    assert_stamped([released], stamp(1, request_id="req-release"))
    assert claim.holder is None


def test_only_the_holder_can_release_a_name() -> None:
    claim = taken(holder=1)
    claim.release(2, stamp(1))
    assert claim.pending_events == []
    assert claim.holder == 1


def test_releasing_a_free_name_records_nothing() -> None:
    claim = taken(holder=1)
    claim.release(1, stamp(1))
    claim.collect_events()
    claim.release(1, stamp(2))
    assert claim.pending_events == []


def test_a_released_name_can_be_retaken_by_anyone() -> None:
    claim = taken(holder=1)
    claim.release(1, stamp(1))
    claim.collect_events()
    claim.retake(2, stamp(2, request_id="req-retake"))
    [reclaimed] = claim.pending_events
    assert isinstance(reclaimed, NameClaim.Reclaimed)
    assert reclaimed.holder == 2
    assert_stamped([reclaimed], stamp(2, request_id="req-retake"))
    assert claim.holder == 2
    assert claim.version == 3


def test_replaying_the_events_rebuilds_an_equal_claim() -> None:
    claim = NameClaim.take("user", "alice", 1, stamp())
    claim.release(1, stamp())
    claim.retake(5, stamp())
    events = claim.collect_events()
    assert_stamped(events, stamp())
    rebuilt = replay(events)
    assert state(rebuilt) == state(claim)
    assert rebuilt.holder == 5
