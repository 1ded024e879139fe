"""Start-up checks: each configured dependency answers, or one line says why not.

Without them a wrong `DATABASE_URL` surfaced as psycopg_pool's "couldn't get a connection
after 5.00 sec" at the end of a long traceback, never PostgreSQL's own reason. Each check
connects once, directly (no pool, no retries), and turns the failure into a
`StartupError` whose message is the reason in one line.
"""

from __future__ import annotations

import psycopg
import redis
from psycopg.conninfo import conninfo_to_dict

CONNECT_TIMEOUT_SECONDS = 5
TOO_MANY_CLIENTS_HINT = (
    "PostgreSQL's max_connections, or a role's or database's connection limit, is used up:"
    " lower DB_POOL_SIZE, DB_MAX_OVERFLOW or READ_POOL_SIZE, raise the limit, or put PgBouncer"
    " in front (README: Connection budget)"
)


class StartupError(RuntimeError):
    """A dependency the service needs is misconfigured or unreachable."""


def postgres_reason(exc: BaseException) -> str:
    """PostgreSQL's or libpq's own reason for a failed connection, on one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    text = text.removeprefix("connection failed: ")
    # A refusal by the server itself ("FATAL:  database "x" does not exist") is the whole
    # story; a network failure keeps the address it names.
    if "FATAL:" in text:
        text = text.rsplit("FATAL:", 1)[1].strip()
    if any(
        words in text
        for words in ("too many clients", "too many connections", "connection slots are reserved")
    ):
        return f"{text} ({TOO_MANY_CLIENTS_HINT})"
    return text


def check_database_url(url: str) -> None:
    """`DATABASE_URL` parses as a PostgreSQL URL or conninfo string."""
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StartupError(
            f"DATABASE_URL is not a PostgreSQL URL or conninfo string ({postgres_reason(exc)});"
            " expected e.g. postgresql://user:password@host:5432/dbname"
        ) from None


def check_postgres(url: str) -> None:
    """One connection to PostgreSQL succeeds; otherwise PostgreSQL's reason."""
    check_database_url(url)
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise StartupError(f"cannot use PostgreSQL: {postgres_reason(exc)}") from None


def check_redis(url: str) -> None:
    """Redis answers a PING; otherwise its reason."""
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=CONNECT_TIMEOUT_SECONDS, socket_connect_timeout=2
        )
    except ValueError as exc:
        raise StartupError(f"REDIS_URL is not a Redis URL ({exc})") from None
    try:
        client.ping()
    except redis.RedisError as exc:
        raise StartupError(f"cannot use Redis (REDIS_URL): {exc}") from None
    finally:
        client.close()
