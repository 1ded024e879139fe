"""The ApiToken aggregate: issue and revoke."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from tests.unit.domain.replay import replay, state
from tests.unit.domain.stamps import ACTOR, T0, assert_stamped, stamp
from timetracker.domain.api_token import ApiToken, token_digest
from timetracker.domain.errors import InvalidValueError, TokenAlreadyRevokedError
from timetracker.domain.scopes import KNOWN_SCOPES
from timetracker.domain.values import aggregate_id

SECRET = "tt_" + "a1B2-_" * 5 + "zz"


def issue(scopes: list[str], expires_at: object = None, minutes: int = 0) -> ApiToken:
    return ApiToken.issue(
        number=9,
        user_id=4,
        name="ci",
        token_hash=token_digest(SECRET),
        prefix=SECRET[:8],
        scopes=scopes,
        expires_at=expires_at,  # type: ignore[arg-type]
        stamp=stamp(minutes, request_id="req-issue"),
    )


def test_issuing_a_token_records_its_hash_prefix_and_scopes() -> None:
    expires = T0 + timedelta(days=30)
    token = issue(["write:projects", "read:projects", "read:projects"], expires)

    [issued] = token.pending_events
    assert isinstance(issued, ApiToken.Issued)
    assert issued.originator_id == aggregate_id("api_token", 9)
    assert (issued.number, issued.user_id, issued.name) == (9, 4, "ci")
    assert issued.token_hash == hashlib.sha256(SECRET.encode()).hexdigest()
    assert issued.prefix == "tt_a1B2-"
    assert issued.scopes == ["read:projects", "write:projects"]
    assert issued.expires_at == expires
    assert (issued.actor, issued.request_id, issued.timestamp) == (ACTOR, "req-issue", T0)


def test_the_secret_itself_is_in_no_event() -> None:
    token = issue(["read:*"])
    assert SECRET not in repr(token.pending_events)
    assert SECRET not in repr(vars(token))


def test_a_new_token_is_not_revoked() -> None:
    token = issue(["read:*"])
    assert token.revoked_at is None
    assert token.scopes == ["read:*"]
    assert token.expires_at is None


def test_unknown_scopes_are_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        issue(["read:projects", "delete:everything", "read:secrets"])
    assert caught.value.field == "scopes"
    assert caught.value.message == (
        "Unknown scopes: delete:everything, read:secrets. Valid scopes: "
        + ", ".join(sorted(KNOWN_SCOPES))
        + "."
    )
    assert "read:time_entries" in caught.value.message


def test_a_token_without_scopes_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        issue([])
    assert caught.value.field == "scopes"
    assert caught.value.message == "At least one scope is required."


@pytest.mark.parametrize("offset", [timedelta(seconds=-1), timedelta(0)], ids=["past", "now"])
def test_an_expiry_that_is_not_in_the_future_is_refused(offset: timedelta) -> None:
    with pytest.raises(InvalidValueError) as caught:
        issue(["read:*"], T0 + offset)
    assert caught.value.field == "expires_at"


def test_revoking_a_token_records_when() -> None:
    token = issue(["read:*"])
    token.collect_events()
    token.revoke(stamp(5, request_id="req-revoke"))

    [revoked] = token.pending_events
    assert isinstance(revoked, ApiToken.Revoked)
    assert revoked.originator_version == 2
    assert (revoked.actor, revoked.request_id) == (ACTOR, "req-revoke")
    assert revoked.timestamp == T0 + timedelta(minutes=5)
    assert token.revoked_at == T0 + timedelta(minutes=5)
    assert token.version == 2


def test_revoking_twice_is_refused() -> None:
    token = issue(["read:*"])
    token.revoke(stamp(5))
    token.collect_events()
    with pytest.raises(TokenAlreadyRevokedError):
        token.revoke(stamp(6))
    assert token.pending_events == []
    assert token.revoked_at == T0 + timedelta(minutes=5)


def test_replaying_the_events_rebuilds_an_equal_token() -> None:
    token = issue(["read:*", "write:time_entries"], T0 + timedelta(hours=1))
    issued = token.collect_events()
    token.revoke(stamp(5, request_id="req-revoke"))
    revoked = token.collect_events()
    assert_stamped(issued, stamp(0, request_id="req-issue"))
    assert_stamped(revoked, stamp(5, request_id="req-revoke"))
    assert state(replay([*issued, *revoked])) == state(token)
