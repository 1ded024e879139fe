"""`timetracker`: serve the API, manage users and tokens."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import importlib.metadata
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

import psycopg
import psycopg_pool
from aiohttp import web
from eventsourcing.persistence import PersistenceError

from timetracker.commands.application import TimeTracking, open_time_tracking
from timetracker.commands.passwords import check_password_rules
from timetracker.domain.errors import TimeTrackingError
from timetracker.domain.scopes import KNOWN_SCOPES
from timetracker.http.access_log import AccessLog
from timetracker.http.app import create_serving_app
from timetracker.http.settings import Settings, SettingsError
from timetracker.ops import (
    accounts,
    audit,
    backup,
    cli_values,
    embedded,
    importing,
    passwords,
    progress,
    projections,
    workers,
)
from timetracker.ops.bootstrap import bootstrap_admin
from timetracker.ops.embedded import embedded_services
from timetracker.ops.projections_process import projections_process
from timetracker.ops.startup import StartupError, check_postgres, check_redis, postgres_reason


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="timetracker", description=__doc__)
    parser.add_argument("--version", action="version", version=f"timetracker {_version()}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show INFO log lines (serve always does)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (with projections)")
    serve.add_argument("--host", help="listen address (default HOST or 127.0.0.1)")
    serve.add_argument(
        "--port", type=cli_values.port, help="listen port, 0-65535 (default PORT or 8080)"
    )
    serve.add_argument(
        "--no-projections", action="store_true", help="do not run projections in this process"
    )
    serve.add_argument(
        "--workers",
        type=cli_values.worker_count,
        default=workers.default_workers(),
        help="processes serving the port (default: one per core)",
    )

    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    create_user = users.add_parser("create", help="register a user; prints its id")
    create_user.add_argument("--username", required=True)
    create_user.add_argument("--email", type=cli_values.email)
    create_user.add_argument("--full-name")
    create_user.add_argument("--admin", action="store_true", help="an admin user")
    create_user.add_argument(
        "--password-stdin",
        action="store_true",
        help="also set a console password, read as one line from standard input",
    )
    set_password = users.add_parser(
        "set-password", help="set a user's console password (prompted, never echoed)"
    )
    set_password.add_argument("username")
    set_password.add_argument(
        "--password-stdin", action="store_true", help="read it as one line from standard input"
    )
    users.add_parser("list", help="list users: id, username, role, state, console password")
    deactivate = users.add_parser(
        "deactivate", help="deactivate a user: their tokens and console sessions stop at once"
    )
    deactivate.add_argument("username")

    tokens = commands.add_parser("tokens", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    create_token = tokens.add_parser("create", help="issue a token; prints it on the last line")
    create_token.add_argument("--user", required=True, help="username")
    create_token.add_argument(
        "--scopes",
        required=True,
        help=f"comma-separated, e.g. read:*; one or more of: {', '.join(sorted(KNOWN_SCOPES))}",
    )
    create_token.add_argument("--name", default="cli")
    create_token.add_argument(
        "--expires-in-days",
        type=cli_values.positive_days,
        help="days until the token expires, at least 1 (default: never)",
    )
    list_tokens = tokens.add_parser("list", help="list tokens (never their secrets)")
    list_tokens.add_argument("--user", help="only this user's tokens")
    revoke = tokens.add_parser("revoke", help="revoke a token by display prefix or id")
    revoke.add_argument("prefix_or_id")

    read_models = commands.add_parser("projections", help="operate the read models").add_subparsers(
        dest="action", required=True
    )
    read_models.add_parser("status", help="position, store head, lag and state of each")
    rebuild = read_models.add_parser(
        "rebuild", help="rebuild beside the live copy, then switch (no downtime)"
    )
    rebuild.add_argument("names", nargs="*", help="projections to rebuild (default: all)")
    rebuild.add_argument("--all", action="store_true", help="rebuild every projection")
    verify = read_models.add_parser("verify", help="compare with a fresh replay")
    verify.add_argument("names", nargs="*", help="projections to verify (default: all)")
    read_models.add_parser("run", help="run the projections without the API")

    audit.add_parser(commands)
    backup.add_parser(commands)
    importing.add_parser(commands)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("timetracker-es")
    except importlib.metadata.PackageNotFoundError:  # run from a tree that is not installed
        return "unknown"


def check_dependencies(settings: Settings, need_redis: bool) -> None:
    """Each configured service answers, or a StartupError says why in one line."""
    if settings.database_url:
        check_postgres(settings.database_url)
    if need_redis and settings.redis_url:
        check_redis(settings.redis_url)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    settings = dataclasses.replace(
        settings,
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        run_projections=not args.no_projections,
        projections_process=not args.no_projections,
    )
    try:
        return _serve_on(settings, args)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise ListenError(
            f"cannot listen on {settings.host}:{settings.port}: address already in use"
        ) from None


class ListenError(RuntimeError):
    """The address `serve` was told to listen on is taken."""


def _serve_on(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings, need_redis=True) as settings:
        store = open_time_tracking(settings.event_store_env())
        try:
            token = bootstrap_admin(store)
            if token is not None:  # usable from the first request, whichever worker answers
                accounts.refresh_read_models(store, settings.conninfo)
        finally:
            store.close()
        if token is not None:
            print("Created user 'admin' with an admin:all token (shown once, keep it safe):")
            print(token)
            print(
                "To sign in to the console at /admin/, first set the admin's password:"
                " timetracker users set-password admin",
                flush=True,
            )
        if args.workers > 1:
            code = workers.serve_workers(settings, args.workers)
        else:
            # run_app stops gracefully on SIGINT and SIGTERM and returns.
            web.run_app(
                create_serving_app(settings, projections_process),
                host=settings.host,
                port=settings.port,
                access_log_class=AccessLog,
                # A connection idle this long, or still sending a request's headers, is closed.
                keepalive_timeout=settings.header_timeout,
            )
            code = 0
    if code == 0:
        print("timetracker: stopped cleanly", flush=True)
    return code


def _manage(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings, need_redis=False) as settings:
        store: TimeTracking = open_time_tracking(settings.event_store_env())
        try:
            _run_management_command(store, settings.conninfo, args)
        finally:
            store.close()
    return 0


def _run_management_command(store: TimeTracking, conninfo: str, args: argparse.Namespace) -> None:
    # Each write brings the read models up to date before returning, so a running server
    # honours a new user or token, or refuses a revoked one, as soon as the command ends.
    if args.command == "users":
        _run_users_command(store, conninfo, args)
    elif args.action == "create":
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        issued = accounts.issue_token(store, args.user, scopes, args.name, args.expires_in_days)
        accounts.refresh_read_models(store, conninfo)
        print(f"Token {issued.prefix} (id {issued.id}) for {args.user}; shown once:")
        print(issued.token)
    elif args.action == "list":
        accounts.refresh_read_models(store, conninfo)
        for row in accounts.list_tokens(conninfo, args.user):
            state = "revoked" if row["revoked_at"] else "active"
            expires = row["expires_at"].isoformat() if row["expires_at"] else "never"
            print(
                f"{row['id']}\t{row['prefix']}\t{row['username']}\t{row['name']}\t"
                f"{','.join(row['scopes'])}\t{state}\texpires {expires}"
            )
    else:
        accounts.refresh_read_models(store, conninfo)
        token_id = accounts.revoke_token(store, conninfo, args.prefix_or_id)
        accounts.refresh_read_models(store, conninfo)
        print(f"Revoked token {token_id}")


def _run_users_command(store: TimeTracking, conninfo: str, args: argparse.Namespace) -> None:
    if args.action == "create":
        # Read before anything is written: a refused password leaves no half-made user.
        password = passwords.read_password(from_stdin=True) if args.password_stdin else None
        if password is not None:
            check_password_rules(password)
        user_id = accounts.register_user(
            store, args.username, args.email, args.full_name, args.admin
        )
        if password is not None:
            accounts.set_password(store, args.username, password)
        accounts.refresh_read_models(store, conninfo)
        print(user_id)
    elif args.action == "set-password":
        password = passwords.read_password(from_stdin=args.password_stdin)
        accounts.set_password(store, args.username, password)
        accounts.refresh_read_models(store, conninfo)
        print(f"Password set for {args.username}.")
    elif args.action == "list":
        accounts.refresh_read_models(store, conninfo)
        for row in accounts.list_users(conninfo):
            state = "active" if row["is_active"] else "deactivated"
            password = "password" if row["has_password"] else "no-password"
            print(
                f"{row['id']}\t{row['username']}\t{row['role']}\t{state}\t{password}\t"
                f"{row['email'] or ''}"
            )
    else:
        accounts.deactivate_user(store, args.username)
        accounts.refresh_read_models(store, conninfo)
        print(f"Deactivated {args.username}: their tokens no longer work.")


def _read_models(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings, need_redis=True) as settings:
        store: TimeTracking = open_time_tracking(settings.event_store_env())
        try:
            if args.action == "status":
                return projections.print_status(store, settings)
            if args.action == "rebuild":
                names = [] if args.all else args.names
                return projections.rebuild_projections(store, settings, names)
            if args.action == "verify":
                return projections.verify_projections(store, settings, args.names)
            return projections.run_projections(store, settings)
        finally:
            store.close()


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings, need_redis=False) as settings:
        store: TimeTracking = open_time_tracking(settings.event_store_env())
        try:
            return audit.run(store, args)
        finally:
            store.close()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Until the server installs its own handler, SIGTERM unwinds like Ctrl-C, so the
    embedded services are released on the way out."""
    raise SystemExit(128 + signum)


def _needs_redis(args: argparse.Namespace) -> bool:
    return args.command in ("serve", "projections") or (
        args.command == "backup" and args.action == "restore"
    )


def _configure_logging(args: argparse.Namespace) -> None:
    """INFO lines for the long-running commands (their log is their output) and with
    --verbose; warnings only otherwise. Through the console the progress bars draw on, so
    a log line never lands inside a bar."""
    long_running = args.command == "serve" or (
        args.command == "projections" and args.action == "run"
    )
    level = logging.INFO if args.verbose or long_running else logging.WARNING
    progress.configure_logging(level, rich_console=not long_running)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `timetracker` console script."""
    args = _parser().parse_args(argv)
    _configure_logging(args)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        settings = Settings.from_env()
        check_dependencies(settings, need_redis=_needs_redis(args))
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "projections":
            return _read_models(settings, args)
        if args.command == "audit":
            return _audit(settings, args)
        if args.command == "backup":
            return backup.run(settings, args)
        if args.command == "import":
            return importing.run(settings, args)
        return _manage(settings, args)
    except (
        SettingsError,
        StartupError,
        TimeTrackingError,
        accounts.OperatorLookupError,
        audit.AuditLookupError,
        passwords.PasswordInputError,
        importing.ImportInputError,
        projections.UnknownProjectionError,
        embedded.EmbeddedUnavailableError,
    ) as exc:
        print(f"timetracker: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout, PersistenceError) as exc:
        # The database went away or refused us after start-up (e.g. "too many clients").
        print(f"timetracker: PostgreSQL: {_database_reason(exc)}", file=sys.stderr)
        return 1
    except ListenError as exc:
        print(f"timetracker: {exc}", file=sys.stderr)
        return 1


def _database_reason(exc: BaseException) -> str:
    """The innermost database error's reason (a pool timeout only says it waited)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        inner = exc.__cause__ or exc.__context__
        assert inner is not None
        if not isinstance(inner, psycopg.Error | psycopg_pool.PoolTimeout | PersistenceError):
            break
        exc = inner
    return postgres_reason(exc)


if __name__ == "__main__":
    sys.exit(main())
