"""Settings: read from the environment once, passed down to everything else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict


class SettingsError(ValueError):
    """An environment variable has a value the service cannot use."""


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "false").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if not value > 0:
        raise SettingsError(f"{name} must be a number of seconds above 0")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the service can be configured with (see the README's table)."""

    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".timetracker")
    host: str = "127.0.0.1"
    port: int = 8080
    db_pool_size: int = 8
    db_max_overflow: int = 4
    read_pool_size: int = 10
    db_pool_min: int = 1  # connections each pool keeps open while idle
    lock_timeout_seconds: int = 5
    redis_prefix: str = "tt:"
    read_your_writes_timeout: float = 2.0
    max_body_bytes: int = 1024 * 1024
    run_projections: bool = True
    projections_process: bool = False  # run them in a child process (`serve`), not threads
    rate_limit_per_minute: int = 100
    rate_limit_per_hour: int = 1000
    snapshot_interval: int = 100
    backup_dir: Path | None = None
    backup_upload_max_bytes: int = 1024**3
    # The admin console (/admin/): session expiry and sign-in limits.
    console_session_idle_seconds: int = 30 * 60
    console_session_max_seconds: int = 12 * 3600
    console_signin_per_username: int = 5
    console_signin_per_address: int = 20
    console_signin_window_seconds: int = 15 * 60
    console_secure_cookie: bool = False  # Secure even over http (behind a TLS proxy)
    body_timeout: float = 30.0
    header_timeout: float = 60.0
    currency: str = "EUR"  # the currency of reports' billable amounts
    webhooks_allow_http: bool = False
    webhooks_allow_private_networks: bool = False
    webhooks_retry_scale: float = 1.0  # multiplies every retry delay and the 24 h limit
    webhooks_max_per_host: int = 50  # concurrent deliveries to one host

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse the environment (os.environ by default)."""
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            data_dir=Path(env.get("TIMETRACKER_DATA_DIR") or ".timetracker"),
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8080, minimum=0, maximum=65535),
            db_pool_size=_int(env, "DB_POOL_SIZE", 8, minimum=1),
            db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 4),
            read_pool_size=_int(env, "READ_POOL_SIZE", 10, minimum=1),
            db_pool_min=_int(env, "DB_POOL_MIN", 1),
            lock_timeout_seconds=_int(env, "DB_LOCK_TIMEOUT", 5),
            redis_prefix=env.get("REDIS_PREFIX") or "tt:",
            read_your_writes_timeout=_float(env, "READ_YOUR_WRITES_TIMEOUT", 2.0),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 1024 * 1024, minimum=1024),
            rate_limit_per_minute=_int(env, "RATE_LIMIT_PER_MINUTE", 100),
            rate_limit_per_hour=_int(env, "RATE_LIMIT_PER_HOUR", 1000),
            snapshot_interval=_int(env, "SNAPSHOT_INTERVAL", 100),
            backup_dir=Path(env["BACKUP_DIR"]) if env.get("BACKUP_DIR") else None,
            backup_upload_max_bytes=_int(env, "BACKUP_UPLOAD_MAX_BYTES", 1024**3, minimum=1024),
            console_session_idle_seconds=_int(env, "CONSOLE_SESSION_IDLE_SECONDS", 1800, 1),
            console_session_max_seconds=_int(env, "CONSOLE_SESSION_MAX_SECONDS", 43200, 1),
            console_signin_per_username=_int(env, "CONSOLE_SIGNIN_PER_USERNAME", 5, 1),
            console_signin_per_address=_int(env, "CONSOLE_SIGNIN_PER_ADDRESS", 20, 1),
            console_signin_window_seconds=_int(env, "CONSOLE_SIGNIN_WINDOW_SECONDS", 900, 1),
            console_secure_cookie=_bool(env, "CONSOLE_SECURE_COOKIE"),
            body_timeout=_positive(env, "BODY_TIMEOUT", 30.0),
            header_timeout=_positive(env, "HEADER_TIMEOUT", 60.0),
            currency=env.get("CURRENCY") or "EUR",
            webhooks_allow_http=_bool(env, "WEBHOOKS_ALLOW_HTTP"),
            webhooks_allow_private_networks=_bool(env, "WEBHOOKS_ALLOW_PRIVATE_NETWORKS"),
            webhooks_retry_scale=_float(env, "WEBHOOKS_RETRY_SCALE", 1.0),
            webhooks_max_per_host=_int(env, "WEBHOOKS_MAX_PER_HOST", 50, minimum=1),
        )

    @property
    def backups_path(self) -> Path:
        """Where backups are written and listed (BACKUP_DIR, else `<data dir>/backups`)."""
        return self.backup_dir or self.data_dir / "backups"

    @property
    def conninfo(self) -> str:
        """The PostgreSQL connection string (requires `database_url`)."""
        if not self.database_url:
            raise SettingsError("DATABASE_URL is not set")
        return self.database_url

    def event_store_env(self, pre_ping: bool = True) -> dict[str, str]:
        """The `eventsourcing` library's settings for the PostgreSQL event store.

        `pre_ping` checks each pooled connection before lending it (a round trip), so that a
        request never fails on a connection the database dropped. Projection runners go
        without: they retry a failed batch on a new connection by themselves.
        """
        parts = conninfo_to_dict(self.conninfo)
        # The library keeps POSTGRES_POOL_SIZE connections open for good and opens up to
        # POSTGRES_MAX_OVERFLOW more on demand: keep only DB_POOL_MIN open while idle, so
        # that an idle process holds few of PostgreSQL's max_connections (README:
        # Connection budget), and allow DB_POOL_SIZE + DB_MAX_OVERFLOW under load.
        most = self.db_pool_size + self.db_max_overflow
        kept = min(self.db_pool_min, most)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": str(parts.get("dbname") or "postgres"),
            "POSTGRES_HOST": str(parts.get("host") or "127.0.0.1"),
            "POSTGRES_PORT": str(parts.get("port") or "5432"),
            "POSTGRES_USER": str(parts.get("user") or "postgres"),
            "POSTGRES_PASSWORD": str(parts.get("password") or ""),
            "POSTGRES_POOL_SIZE": str(kept),
            "POSTGRES_MAX_OVERFLOW": str(most - kept),
            "POSTGRES_LOCK_TIMEOUT": str(self.lock_timeout_seconds),
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "POSTGRES_PRE_PING": "y" if pre_ping else "n",
            "CREATE_TABLE": "y",
            "SNAPSHOT_INTERVAL": str(self.snapshot_interval),
        }
        return env
