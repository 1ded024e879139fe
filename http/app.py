"""`create_app(settings)`: the aiohttp application and everything it holds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from functools import partial

from aiohttp import web
from aiohttp_apigami import setup_aiohttp_apispec
from aiohttp_apigami.constants import SWAGGER_DICT
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from timetracker.commands.application import TimeTracking, open_time_tracking
from timetracker.eventlog.reader import EventLog
from timetracker.http import (
    admin,
    backups,
    bulk,
    clients,
    exports,
    feed,
    history,
    imports,
    projects,
    quota,
    reports,
    system,
    tasks,
    time_entries,
    timers,
    users,
    webhooks,
)
from timetracker.http.console.app import mount_console
from timetracker.http.heap import freeze_after_startup
from timetracker.http.idempotency import IdempotencyStore
from timetracker.http.idempotency_sweep import idempotency_sweep_ctx
from timetracker.http.keys import (
    accounts_view_key,
    clients_view_key,
    command_executor_key,
    event_log_key,
    freshness_key,
    idempotency_store_key,
    projects_view_key,
    rate_limiter_key,
    rate_windows_key,
    read_pool_key,
    rebuild_jobs_key,
    redis_key,
    report_groups_view_key,
    running_timers_view_key,
    settings_key,
    tasks_view_key,
    time_entries_view_key,
    time_tracking_key,
    time_travel_view_key,
    token_usage_key,
    webhook_deliverer_key,
    webhook_deliveries_key,
    webhook_guard_key,
    webhooks_view_key,
)
from timetracker.http.middlewares.auth import auth_middleware
from timetracker.http.middlewares.body_timeout import body_timeout_middleware
from timetracker.http.middlewares.errors import error_middleware
from timetracker.http.middlewares.idempotency import idempotency_middleware
from timetracker.http.middlewares.maintenance import maintenance_middleware
from timetracker.http.middlewares.positions import position_middleware
from timetracker.http.middlewares.validation import validation_middleware
from timetracker.http.openapi import finish_document
from timetracker.http.paths import API_PREFIX
from timetracker.http.queueing_pool import QueueingPool
from timetracker.http.rate_limit import RateLimiter, Window
from timetracker.http.settings import Settings
from timetracker.http.swagger_ui import setup_swagger_ui
from timetracker.http.threads import in_thread
from timetracker.http.token_cache import token_cache_ctx
from timetracker.http.token_usage import TokenUsage
from timetracker.http.webhook_dispatch import address_guard, create_dispatcher, resource_data
from timetracker.http.writes import POSITION_HEADER
from timetracker.projections.accounts import AccountsView
from timetracker.projections.clients import ClientsView
from timetracker.projections.engine.freshness import Freshness
from timetracker.projections.engine.jobs import RebuildJobs
from timetracker.projections.engine.runner import create_schema, drop_broken_connections
from timetracker.projections.engine.service import ProjectionService
from timetracker.projections.projects import ProjectsView
from timetracker.projections.registry import all_projections
from timetracker.projections.report_groups import ReportGroupsProjection
from timetracker.projections.report_groups_view import ReportGroupsView
from timetracker.projections.running_timers import RunningTimersView
from timetracker.projections.tasks import TasksView
from timetracker.projections.time_entries import TimeEntriesView
from timetracker.projections.time_travel import TimeTravelView
from timetracker.projections.webhooks import WebhooksView
from timetracker.webhooks.dispatcher import Deliverer
from timetracker.webhooks.store import DeliveriesView

log = logging.getLogger(__name__)


ChildProjections = Callable[[Settings], AbstractAsyncContextManager[None]]
child_projections_key: web.AppKey[ChildProjections] = web.AppKey("child_projections_key")


def create_serving_app(
    settings: Settings, child_projections: ChildProjections | None = None
) -> web.Application:
    """The app as a `serve` process runs it: once started, what startup built is kept
    out of the collector's way (`heap.py`). With `settings.projections_process`, the
    composition root passes what runs the projections in a child process."""
    app = create_app(settings)
    if child_projections is not None:
        app[child_projections_key] = child_projections
    app.on_startup.append(freeze_after_startup)
    return app


def create_app(settings: Settings) -> web.Application:
    """The service: the API as one sub-app at `/api/v1`, Swagger UI at /api/docs.

    The shared objects live on this root app (cleanup contexts below); handlers reach them
    through `request.config_dict`, which a sub-app's request sees too.
    """
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        # Positions outermost: every response, error bodies included, gets X-Event-Position;
        # errors next so every failure below gets the JSON body.
        middlewares=[position_middleware, error_middleware],
    )
    app[settings_key] = settings
    app[rate_windows_key] = rate_windows(settings)
    app.cleanup_ctx.append(_command_executor)
    app.cleanup_ctx.append(_read_pool)
    app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_event_store)
    app.cleanup_ctx.append(_read_models)
    app.cleanup_ctx.append(token_cache_ctx)
    app.cleanup_ctx.append(idempotency_sweep_ctx)
    app.cleanup_ctx.append(backups.backups_ctx)
    app[webhook_guard_key] = address_guard(settings)
    app.cleanup_ctx.append(_webhooks)
    app.add_subapp(API_PREFIX, create_api())
    mount_console(app)
    _setup_docs(app)
    return app


def create_api() -> web.Application:
    """The `/api/v1` sub-app: every route module's table (paths without the prefix) and the
    middlewares only the API has."""
    api = web.Application(
        # Maintenance first: during a restore nothing else runs, not even auth (its read
        # model is being rebuilt). Auth before validation so an unauthenticated caller learns
        # nothing about the request's shape; idempotency after auth (keys are per user) and
        # before validation (a replay needs no checks).
        middlewares=[
            maintenance_middleware,
            auth_middleware,
            body_timeout_middleware,
            idempotency_middleware,
            validation_middleware,
        ],
    )
    # exports before time_entries: /time-entries/export is not /time-entries/{entry_id}
    modules = (system, projects, clients, users, tasks, exports, time_entries, timers, reports)
    for module in (bulk, *modules, quota, admin, history, feed, backups, imports, webhooks):
        api.router.add_routes(module.routes)
    return api


def rate_windows(settings: Settings) -> list[Window]:
    """The configured per-token windows (a quota of 0 turns a window off)."""
    windows = [
        Window("minute", settings.rate_limit_per_minute, 60),
        Window("hour", settings.rate_limit_per_hour, 3600),
    ]
    return [w for w in windows if w.quota > 0]


def _setup_docs(app: web.Application) -> None:
    docs = setup_aiohttp_apispec(
        app,
        title="TimeTracker ES API",
        version="v1",
        url="/api/docs/openapi.json",
        openapi_version="3.0.3",
    )
    setup_swagger_ui(app, "/api/docs/openapi.json")
    docs.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    docs.spec.components.security_scheme(
        "apiKeyAuth", {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    )
    app.on_startup.append(_finish_document)


IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
    "description": "Send the same key and body again within 24 h to get the first response "
    "back without a second write; a different body with a used key gets 422.",
}


BAD_REQUEST_RESPONSE = {
    "description": "Invalid input: see `errors` (path, query, headers or body)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}


POSITION_HEADER_DOC = {
    "description": "The store position the answer reflects: the last event a write recorded, "
    "the position of the read models a read answered from, the position of an `as_of` "
    "moment, or the store's head.",
    "schema": {"type": "integer", "minimum": 0},
}


async def _finish_document(app: web.Application) -> None:
    """Finish the generated OpenAPI document once it is built.

    aiohttp-apigami 0.9 adds Swagger 2's `produces` to every operation, even in an OpenAPI 3
    document, where it is invalid: remove it. Every POST takes an `Idempotency-Key` header.
    Every response carries `X-Event-Position`. A JSON body, where an operation takes one, is
    required; any operation with an input may answer 400.
    """
    document = app[SWAGGER_DICT]  # type: ignore[index]
    document.setdefault("components", {}).setdefault("headers", {})[POSITION_HEADER] = (
        POSITION_HEADER_DOC
    )
    position_ref = {"$ref": f"#/components/headers/{POSITION_HEADER}"}
    finish_document(app, document)  # first: the responses it adds get the header below too
    for path in document["paths"].values():
        for method, operation in path.items():
            if not isinstance(operation, dict):
                continue
            operation.pop("produces", None)
            operation.pop("consumes", None)
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
            if method == "post" or operation.get("parameters") or "requestBody" in operation:
                operation["responses"].setdefault("400", BAD_REQUEST_RESPONSE)
            if method == "post":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
                operation["responses"].setdefault(
                    "422",
                    {
                        "description": "Idempotency-Key reused with a different body",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ErrorResponse"}
                            }
                        },
                    },
                )
            for response in operation.get("responses", {}).values():
                response.setdefault("headers", {})[POSITION_HEADER] = position_ref


async def _command_executor(app: web.Application) -> AsyncIterator[None]:
    # No more threads than event-store connections: extra threads would only queue.
    size = app[settings_key].db_pool_size
    executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="command")
    app[command_executor_key] = executor
    yield
    executor.shutdown(wait=True)


async def _read_pool(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    pool: AsyncConnectionPool = QueueingPool(
        settings.conninfo,
        min_size=min(settings.db_pool_min, settings.read_pool_size),
        max_size=settings.read_pool_size,
        kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 5},
        # A request waits at most this long for a connection: a dead database answers 503
        # in seconds instead of holding every request for the default 30 s.
        timeout=5,
        open=False,
    )
    await pool.open(wait=True, timeout=10)
    app[read_pool_key] = pool
    app[accounts_view_key] = AccountsView(pool)
    app[clients_view_key] = ClientsView(pool)
    app[projects_view_key] = ProjectsView(pool)
    app[tasks_view_key] = TasksView(pool)
    app[time_entries_view_key] = TimeEntriesView(pool)
    app[time_travel_view_key] = TimeTravelView(pool)
    app[report_groups_view_key] = ReportGroupsView(pool)
    # Their tables are created with the event store's (`commands/schema.py`).
    app[idempotency_store_key] = IdempotencyStore(pool)
    app[token_usage_key] = TokenUsage(pool)
    yield
    await pool.close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    if not settings.redis_url:
        raise ValueError("REDIS_URL is not set")
    client = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    app[redis_key] = client
    prefix = settings.redis_prefix
    app[running_timers_view_key] = RunningTimersView(client, prefix)
    freshness = Freshness(app[read_pool_key], client, prefix)
    # Reports and list pages are kept per position of their read model (`kept_pages.py`):
    # forgotten when it is rewritten.
    freshness.on_rewritten(ReportGroupsProjection.name, app[report_groups_view_key].forget)
    for pages in (
        app[accounts_view_key].pages,
        app[clients_view_key].pages,
        app[projects_view_key].pages,
        app[tasks_view_key].pages,
        app[time_entries_view_key].pages,
    ):
        freshness.on_rewritten(pages.read_model, pages.forget)
    freshness.listen(settings.conninfo, settings.redis_url, partial(_drop_broken_connections, app))
    app[freshness_key] = freshness
    app[rate_limiter_key] = RateLimiter(client, prefix)
    yield
    await freshness.close()
    await app[running_timers_view_key].close()
    await app[rate_limiter_key].close()
    await client.aclose()


async def _drop_broken_connections(app: web.Application) -> None:
    """The database dropped this process's listening connection (a restart, or its
    connections were terminated): check the pools' idle connections now and replace the
    broken ones, so that no read answers 503 and no write waits out psycopg_pool's backoff
    (`runner.drop_broken_connections`) on a connection that broke with it."""
    log.warning("PostgreSQL dropped a connection: checking the pools' connections")
    await app[read_pool_key].check()
    store = app.get(time_tracking_key)
    if store is not None:
        executor = app[command_executor_key]
        await in_thread(drop_broken_connections, store, executor=executor)


async def _event_store(app: web.Application) -> AsyncIterator[None]:
    env = app[settings_key].event_store_env()
    store = await in_thread(open_time_tracking, env, executor=app[command_executor_key])
    app[time_tracking_key] = store
    app[event_log_key] = EventLog(store)
    yield
    await in_thread(store.close, executor=app[command_executor_key])


async def _read_models(app: web.Application) -> AsyncIterator[None]:
    """Create the read-model tables; run the projections (in threads of this process or in
    a child process of its own) unless told not to."""
    loop = asyncio.get_running_loop()
    settings = app[settings_key]
    projections = all_projections()
    await in_thread(create_schema, settings.conninfo, projections)
    store: TimeTracking = app[time_tracking_key]
    jobs = RebuildJobs(store, settings.conninfo, settings.redis_url, settings.redis_prefix)
    await in_thread(jobs.create_table)
    app[rebuild_jobs_key] = jobs
    if not settings.run_projections:
        yield
    elif settings.projections_process and child_projections_key in app:
        async with app[child_projections_key](settings):
            yield
    else:
        service = ProjectionService.for_every_read_model(
            store,
            settings.conninfo,
            settings.redis_url,
            settings.redis_prefix,
            on_advance=app[freshness_key].advance_notifier(loop),
        )
        await in_thread(service.start)
        yield
        await in_thread(service.stop)
    await in_thread(jobs.wait)


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    """The webhook views; the dispatcher in this process's loop where the projections run
    in threads of this process (a `serve` process runs it in its projections process)."""
    settings = app[settings_key]
    pool = app[read_pool_key]
    app[webhooks_view_key] = WebhooksView(pool)
    deliveries = DeliveriesView(pool)
    await deliveries.create_tables()
    app[webhook_deliveries_key] = deliveries
    store = app[time_tracking_key]
    app[webhook_deliverer_key] = Deliverer(EventLog(store), resource_data)
    in_child = settings.projections_process and child_projections_key in app
    if not settings.run_projections or in_child:
        yield
        return
    stop = asyncio.Event()
    dispatcher = create_dispatcher(store, settings, app[webhook_guard_key])
    task = asyncio.create_task(dispatcher.run(stop))
    yield
    stop.set()
    await task
