"""The accounts read model: users and tokens as rows; a revocation also notifies."""

from __future__ import annotations

from tests.unit.domain.stamps import T0, stamp
from tests.unit.projections.events import events_of
from timetracker.domain.api_token import ApiToken
from timetracker.domain.user import User
from timetracker.domain.values import aggregate_id
from timetracker.projections.accounts import TOKENS_CHANNEL, AccountsProjection
from timetracker.projections.rows import Insert, Notify, Update


def test_a_registered_user_is_an_active_row() -> None:
    [registered] = events_of(User.register(4, "alice", "a@x.example", None, "user", stamp()))

    assert AccountsProjection().changes(registered) == [
        Insert(
            "users",
            {
                "id": 4,
                "aggregate_id": aggregate_id("user", 4),
                "username": "alice",
                "email": "a@x.example",
                "full_name": None,
                "role": "user",
                "is_active": True,
                "created_at": T0,
                "version": 1,
            },
        )
    ]


def test_a_token_is_stored_by_hash_and_its_revocation_is_announced() -> None:
    token = ApiToken.issue(9, 4, "ci", "f" * 64, "tt_abcde", ["read:*"], None, stamp())
    [issued] = events_of(token)
    token.revoke(stamp(3))
    [revoked] = events_of(token)
    projection = AccountsProjection()

    [insert] = projection.changes(issued)
    assert isinstance(insert, Insert) and insert.table == "api_tokens"
    assert insert.row["token_hash"] == "f" * 64 and insert.row["scopes"] == ["read:*"]
    assert insert.row["user_id"] == 4 and insert.row["expires_at"] is None
    assert "revoked_at" not in insert.row
    assert projection.changes(revoked) == [
        Update(
            "api_tokens",
            aggregate_id("api_token", 9),
            {"revoked_at": stamp(3).at, "version": 2},
        ),
        Notify(TOKENS_CHANNEL),
    ]
