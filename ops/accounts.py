"""Operator work on users and tokens, shared by the CLI and first-start bootstrap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from timetracker.commands.application import TimeTracking
from timetracker.commands.errors import NotFoundError
from timetracker.commands.messages import (
    DeactivateUser,
    IssueApiToken,
    IssuedToken,
    RegisterUser,
    RevokeApiToken,
    SetPassword,
)
from timetracker.domain.values import Stamp
from timetracker.projections.engine.runner import catch_up_each, create_schema
from timetracker.projections.registry import all_projections


def operator_stamp() -> Stamp:
    """Events caused from the command line carry no user or token."""
    return Stamp(at=datetime.now(UTC), user_id=None, request_id="cli", is_admin=True)


def register_user(
    store: TimeTracking,
    username: str,
    email: str | None,
    full_name: str | None,
    admin: bool,
) -> int:
    """Register a user; returns the new id."""
    role = "admin" if admin else "user"
    written = store.register_user(RegisterUser(username, email, full_name, role, operator_stamp()))
    return written.id


def issue_token(
    store: TimeTracking,
    username: str,
    scopes: list[str],
    name: str,
    expires_in_days: int | None,
) -> IssuedToken:
    """Issue a token for a user."""
    stamp = operator_stamp()
    expires_at = stamp.at + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        return store.issue_api_token(IssueApiToken(username, scopes, name, expires_at, stamp))
    except NotFoundError:
        raise UserLookupError(f"No user is named {username!r}.") from None


def _user_number(store: TimeTracking, username: str) -> int:
    try:
        return store.user_by_name(username).number
    except NotFoundError:
        raise UserLookupError(f"No user is named {username!r}.") from None


def set_password(store: TimeTracking, username: str, password: str) -> None:
    """Give a user a console password (stored as its argon2id hash only)."""
    store.set_password(SetPassword(_user_number(store, username), password, operator_stamp()))


def deactivate_user(store: TimeTracking, username: str) -> None:
    """Deactivate a user: their tokens and console sessions stop working at once."""
    store.deactivate_user(DeactivateUser(_user_number(store, username), operator_stamp()))


def list_users(conninfo: str) -> list[dict[str, Any]]:
    """Every user in id order, with whether they have a console password (never its hash)."""
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return list(
            conn.execute(
                "SELECT id, username, email, role, is_active,"
                " password_hash IS NOT NULL AS has_password FROM users ORDER BY id"
            ).fetchall()
        )


def refresh_read_models(store: TimeTracking, conninfo: str) -> None:
    """Bring every read model up to date (safe while a server runs its own runners)."""
    projections = all_projections()
    create_schema(conninfo, projections)
    catch_up_each(store, projections, conninfo)


def list_tokens(conninfo: str, username: str | None) -> list[dict[str, Any]]:
    """Every token (optionally of one user), newest first; never the secret."""
    query = (
        "SELECT t.id, t.prefix, t.name, u.username, t.scopes, t.created_at, t.expires_at,"
        " t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id"
    )
    params: tuple[Any, ...] = ()
    if username is not None:
        query += " WHERE lower(u.username) = lower(%s)"
        params = (username,)
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return list(conn.execute(query + " ORDER BY t.id DESC", params).fetchall())  # type: ignore[arg-type]


class OperatorLookupError(LookupError):
    """What the operator typed names no user or token, or more than one."""


class TokenLookupError(OperatorLookupError):
    """No token, or more than one, matches what the operator typed."""


class UserLookupError(OperatorLookupError):
    """No user has the username the operator typed."""


def find_token_id(conninfo: str, prefix_or_id: str) -> int:
    """The id of the token with this id or display prefix."""
    with psycopg.connect(conninfo) as conn:
        if prefix_or_id.isdigit():
            rows = conn.execute(
                "SELECT id FROM api_tokens WHERE id = %s", (int(prefix_or_id),)
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT id FROM api_tokens WHERE prefix = %s", (prefix_or_id[:8],)
            ).fetchall()
    if not rows:
        raise TokenLookupError(f"No token matches {prefix_or_id!r}.")
    if len(rows) > 1:
        raise TokenLookupError(f"{len(rows)} tokens match {prefix_or_id!r}; use the id.")
    return int(rows[0][0])


def revoke_token(store: TimeTracking, conninfo: str, prefix_or_id: str) -> int:
    """Revoke a token found by id or prefix; returns its id."""
    token_id = find_token_id(conninfo, prefix_or_id)
    store.revoke_api_token(RevokeApiToken(token_id, operator_stamp()))
    return token_id
