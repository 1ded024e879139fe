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
from timetracker.projections.paging import Page, fetch_one, fetch_page

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
        ]

    def apply(self, cursor: Cursor[Any], event: DomainEventProtocol[Any]) -> None:
        if isinstance(event, User.Registered):
            cursor.execute(
                "INSERT INTO users (id, aggregate_id, username, email, full_name, role,"
                " is_active, created_at, version) VALUES (%s, %s, %s, %s, %s, %s, true, %s, %s)",
                (
                    event.number,
                    event.originator_id,
                    event.username,
                    event.email,
                    event.full_name,
                    event.role,
                    event.timestamp,
                    event.originator_version,
                ),
            )
        elif isinstance(event, User.PasswordSet):
            cursor.execute(
                "UPDATE users SET password_hash = %s, version = %s WHERE aggregate_id = %s",
                (event.password_hash, event.originator_version, event.originator_id),
            )
        elif isinstance(event, User.RoleChanged | User.Deactivated):
            role = event.role if isinstance(event, User.RoleChanged) else None
            cursor.execute(
                "UPDATE users SET role = coalesce(%s, role), is_active = %s, version = %s"
                " WHERE aggregate_id = %s",
                (
                    role,
                    isinstance(event, User.RoleChanged),
                    event.originator_version,
                    event.originator_id,
                ),
            )
            # The user's tokens now mean something else (or nothing): every token cache
            # forgets them, as on a revocation.
            self._announce_revocation(cursor)
        elif isinstance(event, ApiToken.Issued):
            cursor.execute(
                "INSERT INTO api_tokens (id, aggregate_id, user_id, name, prefix, token_hash,"
                " scopes, created_at, expires_at, version)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    event.number,
                    event.originator_id,
                    event.user_id,
                    event.name,
                    event.prefix,
                    event.token_hash,
                    event.scopes,
                    event.timestamp,
                    event.expires_at,
                    event.originator_version,
                ),
            )
        elif isinstance(event, ApiToken.Revoked):
            cursor.execute(
                "UPDATE api_tokens SET revoked_at = %s, version = %s WHERE aggregate_id = %s",
                (event.timestamp, event.originator_version, event.originator_id),
            )
            self._announce_revocation(cursor)

    @staticmethod
    def _announce_revocation(cursor: Cursor[Any]) -> None:
        cursor.execute(sql.SQL("NOTIFY {}").format(sql.Identifier(TOKENS_CHANNEL)))
        Revocations.bump()


_USER_COLUMNS = sql.SQL(
    "SELECT id, username, email, full_name, role, is_active, created_at, version FROM users"
)


class AccountsView:
    """Queries on users and tokens."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

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
