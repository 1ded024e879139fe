"""The accounts read model: users, and API tokens by hash for authentication."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEventProtocol
from psycopg import Cursor, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from timetracker.domain.api_token import ApiToken
from timetracker.domain.user import User
from timetracker.projections.base import Projection
from timetracker.projections.bodies import json_object, time
from timetracker.projections.kept_pages import KEPT_LIST_BYTES, KeptPages
from timetracker.projections.paging import (
    BodyPage,
    Page,
    fetch_one,
    fetch_page,
    list_statement,
)
from timetracker.projections.rows import Insert, Notify, RowChange, Update

# Revocations reach every server process's token cache (http/token_cache.py) two ways: a
# NOTIFY on this channel, sent with the transaction that records the revocation (so it
# arrives from whichever process applied it), and, where the runner runs in the process,
# this counter, bumped as the event is applied.
TOKENS_CHANNEL = "timetracker_tokens_revoked"


class Revocations:
    """In-process count of revocations applied here (read by the token cache)."""

    generation = 0

    @classmethod
    def bump(cls) -> None:
        cls.generation += 1


class AccountsProjection(Projection):
    """Keeps the `users` and `api_tokens` tables in step with their events."""

    name = "accounts"
    tables = ("users", "api_tokens")

    def create_statements(self) -> list[str]:
        return [
            """
            CREATE TABLE IF NOT EXISTS users (
                id integer PRIMARY KEY,
                aggregate_id uuid NOT NULL UNIQUE,
                username text NOT NULL,
                email text,
                full_name text,
                role text NOT NULL,
                is_active boolean NOT NULL,
                created_at timestamptz NOT NULL,
                version integer NOT NULL
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS api_tokens (
                id integer PRIMARY KEY,
                aggregate_id uuid NOT NULL UNIQUE,
                user_id integer NOT NULL,
                name text NOT NULL,
                prefix text NOT NULL,
                token_hash text NOT NULL UNIQUE,
                scopes text[] NOT NULL,
                created_at timestamptz NOT NULL,
                expires_at timestamptz,
                revoked_at timestamptz,
                version integer NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS api_tokens_prefix_idx ON api_tokens (prefix)",
            # Added with console sign-in: stores created before it gain the column.
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS password_hash text",
            # Added with the users' time zones (reports): older stores gain the column.
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS timezone text NOT NULL DEFAULT 'UTC'",
        ]

    def changes(self, event: DomainEventProtocol[Any]) -> list[RowChange]:
        if isinstance(event, User.Registered):
            row = {
                "id": event.number,
                "aggregate_id": event.originator_id,
                "username": event.username,
                "email": event.email,
                "full_name": event.full_name,
                "role": event.role,
                "is_active": True,
                "created_at": event.timestamp,
                "version": event.originator_version,
            }
            return [Insert("users", row)]
        if isinstance(event, User.TimezoneChanged):
            values = {"timezone": event.timezone, "version": event.originator_version}
            return [Update("users", event.originator_id, values)]
        if isinstance(event, User.PasswordSet):
            values = {"password_hash": event.password_hash, "version": event.originator_version}
            return [Update("users", event.originator_id, values)]
        if isinstance(event, User.RoleChanged | User.Deactivated):
            if isinstance(event, User.RoleChanged):
                values = {"role": event.role, "is_active": True}
            else:
                values = {"is_active": False}
            values["version"] = event.originator_version
            # The user's tokens now mean something else (or nothing): every token cache
            # forgets them, as on a revocation.
            return [Update("users", event.originator_id, values), Notify(TOKENS_CHANNEL)]
        if isinstance(event, ApiToken.Issued):
            row = {
                "id": event.number,
                "aggregate_id": event.originator_id,
                "user_id": event.user_id,
                "name": event.name,
                "prefix": event.prefix,
                "token_hash": event.token_hash,
                "scopes": event.scopes,
                "created_at": event.timestamp,
                "expires_at": event.expires_at,
                "version": event.originator_version,
            }
            return [Insert("api_tokens", row)]
        if isinstance(event, ApiToken.Revoked):
            values = {"revoked_at": event.timestamp, "version": event.originator_version}
            return [Update("api_tokens", event.originator_id, values), Notify(TOKENS_CHANNEL)]
        return []

    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        super().apply(cursor, event)
        if isinstance(event, ApiToken.Revoked | User.RoleChanged | User.Deactivated):
            Revocations.bump()


_USER_COLUMNS = sql.SQL(
    "SELECT id, username, email, full_name, role, is_active, created_at, timezone, version"
    " FROM users"
)


# A user as the API shows it (`http/users.py::user_json`), built by the list's query: the
# users table has no stored body, because every change to a user's row would have to
# refresh it, and a users page is admin-only and small.
USER_BODY = json_object(
    {
        "id": "id",
        "username": "username",
        "email": "email",
        "full_name": "full_name",
        "role": "role",
        "is_active": "is_active",
        "created_at": time("created_at"),
        "timezone": "timezone",
    }
)


class AccountsView:
    """Queries on users and tokens."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self.pages = KeptPages(AccountsProjection.name, KEPT_LIST_BYTES)

    async def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        """The token with this hash and its user's role, or None."""
        return await fetch_one(
            self.pool,
            sql.SQL(
                "SELECT t.id, t.prefix, t.scopes, t.expires_at, t.revoked_at, t.user_id,"
                " u.username, u.role, u.is_active FROM api_tokens t"
                " JOIN users u ON u.id = t.user_id WHERE t.token_hash = %(hash)s"
            ),
            {"hash": token_hash},
        )

    async def sign_in_record(self, username: str) -> dict[str, Any] | None:
        """The user with this username (any case) and their password hash, or None."""
        return await fetch_one(
            self.pool,
            sql.SQL(
                "SELECT id, username, role, is_active, password_hash FROM users"
                " WHERE lower(username) = lower(%(username)s) ORDER BY is_active DESC, id DESC"
                " LIMIT 1"
            ),
            {"username": username},
        )

    async def get_user(self, user_id: int) -> dict[str, Any] | None:
        """One user, or None."""
        return await fetch_one(
            self.pool, _USER_COLUMNS + sql.SQL(" WHERE id = %(id)s"), {"id": user_id}
        )

    async def all_tokens(self) -> list[dict[str, Any]]:
        """Every token with its user's name, newest first (never a hash)."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                "SELECT t.id, t.prefix, t.name, t.user_id, u.username, t.scopes, t.created_at,"
                " t.expires_at, t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id"
                " ORDER BY t.id DESC"
            )
            return list(await cursor.fetchall())

    async def all_users(self) -> list[dict[str, Any]]:
        """Every user in id order, with whether they have a console password (never its hash)."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                "SELECT id, username, email, full_name, role, is_active, created_at,"
                " password_hash IS NOT NULL AS has_password FROM users ORDER BY id"
            )
            return list(await cursor.fetchall())

    async def list_users_json(self, page: int, per_page: int, shown: int | None = None) -> BodyPage:
        """Users in id order, as the API shows them (one JSON array built by the query)."""
        statement = list_statement(
            f"SELECT {USER_BODY} AS body, id FROM users", "id", "SELECT count(*) FROM users"
        )
        return await self.pages.fetch(self.pool, statement, {}, page, per_page, shown)

    async def list_users(self, page: int, per_page: int) -> Page:
        """Users in id order."""
        return await fetch_page(
            self.pool,
            _USER_COLUMNS + sql.SQL(" ORDER BY id LIMIT %(limit)s OFFSET %(offset)s"),
            sql.SQL("SELECT count(*) FROM users"),
            {},
            page,
            per_page,
        )
