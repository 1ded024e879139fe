"""`timetracker`: serve the API, manage users and tokens."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from aiohttp import web

from timetracker.commands.application import TimeTracking, open_time_tracking
from timetracker.domain.errors import TimeTrackingError
from timetracker.http.access_log import AccessLog
from timetracker.http.app import create_serving_app
from timetracker.http.settings import Settings, SettingsError
from timetracker.ops import accounts, audit, backup, importing, projections, workers
from timetracker.ops.bootstrap import bootstrap_admin
from timetracker.ops.embedded import embedded_services
from timetracker.ops.projections_process import projections_process


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="timetracker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (with projections)")
    serve.add_argument("--host", help="listen address (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default PORT or 8080)")
    serve.add_argument(
        "--no-projections", action="store_true", help="do not run projections in this process"
    )
    serve.add_argument(
        "--workers",
        type=workers.worker_count,
        default=workers.default_workers(),
        help="processes serving the port (default: one per core)",
    )

    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    create_user = users.add_parser("create", help="register a user; prints its id")
    create_user.add_argument("--username", required=True)
    create_user.add_argument("--email")
    create_user.add_argument("--full-name")
    create_user.add_argument("--admin", action="store_true", help="an admin user")

    tokens = commands.add_parser("tokens", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    create_token = tokens.add_parser("create", help="issue a token; prints it on the last line")
    create_token.add_argument("--user", required=True, help="username")
    create_token.add_argument("--scopes", required=True, help="comma-separated, e.g. read:*")
    create_token.add_argument("--name", default="cli")
    create_token.add_argument("--expires-in-days", type=int)
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


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    settings = dataclasses.replace(
        settings,
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        run_projections=not args.no_projections,
        projections_process=not args.no_projections,
    )
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
            print(token, flush=True)
        if args.workers > 1:
            return workers.serve_workers(settings, args.workers)
        # run_app stops gracefully on SIGINT and SIGTERM and returns.
        web.run_app(
            create_serving_app(settings, projections_process),
            host=settings.host,
            port=settings.port,
            access_log_class=AccessLog,
        )
    return 0


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
        user_id = accounts.register_user(
            store, args.username, args.email, args.full_name, args.admin
        )
        accounts.refresh_read_models(store, conninfo)
        print(user_id)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `timetracker` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        settings = Settings.from_env()
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
        TimeTrackingError,
        accounts.OperatorLookupError,
        audit.AuditLookupError,
        importing.ImportInputError,
        projections.UnknownProjectionError,
    ) as exc:
        print(f"timetracker: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"timetracker: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
