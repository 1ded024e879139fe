"""`timetracker projections status|rebuild|verify|run`: operator work on the read models."""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence

import psycopg
from psycopg.rows import dict_row

from timetracker.commands.application import TimeTracking
from timetracker.http.settings import Settings
from timetracker.http.webhook_dispatch import create_dispatcher
from timetracker.ops.progress import ProgressBar
from timetracker.projections.engine.rebuild import rebuild, rebuild_redis
from timetracker.projections.engine.runner import create_schema
from timetracker.projections.engine.service import ProjectionService
from timetracker.projections.engine.status import projection_status
from timetracker.projections.engine.verify import verify, verify_redis
from timetracker.projections.registry import all_projections, redis_projections
from timetracker.webhooks.dispatcher import DispatcherThread
from timetracker.webhooks.status import dispatcher_status_sync
from timetracker.webhooks.store import SCHEMA as WEBHOOK_SCHEMA

NAMES = [p.name for p in all_projections()] + [p.name for p in redis_projections()]


class UnknownProjectionError(LookupError):
    """The operator named a read model that does not exist."""


def _chosen(names: Sequence[str]) -> list[str]:
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise UnknownProjectionError(
            f"Unknown projection {', '.join(unknown)}; known: {', '.join(NAMES)}."
        )
    return list(names) or NAMES


def print_status(store: TimeTracking, settings: Settings) -> int:
    """Print the status table; exit code 0."""
    create_schema(settings.conninfo, all_projections())
    rows = projection_status(store, settings.conninfo, settings.redis_url, settings.redis_prefix)
    header = f"{'name':16} {'store':8} {'position':>10} {'head':>10} {'lag':>8} {'lag s':>8}  state"
    print(header)
    for row in rows:
        print(
            f"{row.name:16} {row.store:8} {row.position:>10} {row.head:>10} "
            f"{row.lag_events:>8} {row.lag_seconds:>8.1f}  {row.state}"
        )
    print_webhooks_status(settings, rows[0].head if rows else 0)
    return 0


def print_webhooks_status(settings: Settings, head: int) -> None:
    """The webhook dispatcher's line of the status table, and its failing subscriptions."""
    with psycopg.connect(settings.conninfo, autocommit=True, row_factory=dict_row) as conn:
        for statement in WEBHOOK_SCHEMA:
            conn.execute(statement)  # type: ignore[arg-type]
        status = dispatcher_status_sync(conn, head)
    print(
        f"{'dispatcher':16} {'webhooks':8} {status['position']:>10} {status['head']:>10} "
        f"{status['lag_events']:>8} {'':>8}  {status['state']}"
        f" ({status['pending_deliveries']} pending deliveries,"
        f" {len(status['failing_subscriptions'])} failing and"
        f" {status['disabled_subscriptions']} disabled subscriptions)"
    )
    for failing in status["failing_subscriptions"]:
        last = failing["last_error"] or f"HTTP {failing['last_status_code']}"
        since = f"{failing['failing_since']:%Y-%m-%d %H:%M:%S}"
        print(
            f"  webhook {failing['webhook_id']}: failing since {since} UTC"
            f" ({failing['attempts']} attempts), last: {last}"
        )


def rebuild_projections(store: TimeTracking, settings: Settings, names: Sequence[str]) -> int:
    """Rebuild each named read model (all when none), with a progress bar; exit code 0."""
    create_schema(settings.conninfo, all_projections())
    chosen = _chosen(names)
    for projection in all_projections():
        if projection.name in chosen:
            bar = ProgressBar(f"rebuild {projection.name}")
            done = rebuild(store, projection, settings.conninfo, bar)
            bar.finish(f"{done.events:,} events in {done.seconds:.1f} s ({done.rate:,.0f}/s)")
    for redis_projection in redis_projections():
        if redis_projection.name in chosen:
            assert settings.redis_url is not None
            bar = ProgressBar(f"rebuild {redis_projection.name}")
            done = rebuild_redis(
                store, redis_projection, settings.redis_url, settings.redis_prefix, bar
            )
            bar.finish(f"{done.events:,} events in {done.seconds:.1f} s ({done.rate:,.0f}/s)")
    return 0


def verify_projections(store: TimeTracking, settings: Settings, names: Sequence[str]) -> int:
    """Compare each named read model with a fresh replay; exit code 1 on any mismatch."""
    create_schema(settings.conninfo, all_projections())
    chosen = _chosen(names)
    results = []
    for projection in all_projections():
        if projection.name in chosen:
            bar = ProgressBar(f"verify {projection.name}")
            results.append(verify(store, projection, settings.conninfo, bar))
            bar.finish(f"compared at position {results[-1].position}")
    for redis_projection in redis_projections():
        if redis_projection.name in chosen:
            assert settings.redis_url is not None
            bar = ProgressBar(f"verify {redis_projection.name}")
            results.append(
                verify_redis(
                    store, redis_projection, settings.redis_url, settings.redis_prefix, bar
                )
            )
            bar.finish(f"compared at position {results[-1].position}")
    failed = 0
    for result in results:
        verdict = "ok" if result.ok else "MISMATCH"
        print(f"\n{result.name} at position {result.position}: {verdict}")
        for part, (live, replayed) in result.checksums.items():
            print(f"  {part}: live {live} | replayed {replayed}")
        for mismatch in result.mismatches:
            print(f"  {mismatch}")
        failed += not result.ok
    return 1 if failed else 0


def run_projections(store: TimeTracking, settings: Settings) -> int:
    """Run every projection (leading where no other process does) until SIGINT/SIGTERM."""
    create_schema(settings.conninfo, all_projections())
    service = ProjectionService.for_every_read_model(
        store, settings.conninfo, settings.redis_url, settings.redis_prefix
    )
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    webhooks = DispatcherThread(create_dispatcher(store, settings, leadership=service.leadership))
    print("Running projections and the webhook dispatcher; stop with Ctrl+C", flush=True)
    service.start()
    webhooks.start()
    stopped.wait()
    webhooks.stop()
    service.stop()
    return 0
