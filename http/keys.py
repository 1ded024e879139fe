"""Every application key: the service's shared objects, created in `app.py`'s cleanup contexts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from timetracker.backups.jobs import BackupJobs
from timetracker.commands.application import TimeTracking
from timetracker.commands.key_claims import KeyClaim
from timetracker.eventlog.reader import EventLog
from timetracker.http.caller import Caller
from timetracker.http.idempotency import IdempotencyStore
from timetracker.http.maintenance import MaintenanceFlag
from timetracker.http.rate_limit import Decision, RateLimiter, Window
from timetracker.http.settings import Settings
from timetracker.http.token_usage import TokenUsage
from timetracker.projections.accounts import AccountsView
from timetracker.projections.clients import ClientsView
from timetracker.projections.engine.freshness import Freshness
from timetracker.projections.engine.jobs import RebuildJobs
from timetracker.projections.projects import ProjectsView
from timetracker.projections.report_groups_view import ReportGroupsView
from timetracker.projections.running_timers import RunningTimersView
from timetracker.projections.tasks import TasksView
from timetracker.projections.time_entries import TimeEntriesView
from timetracker.projections.time_travel import TimeTravelView
from timetracker.projections.webhooks import WebhooksView
from timetracker.webhooks.dispatcher import Deliverer
from timetracker.webhooks.ssrf import AddressGuard
from timetracker.webhooks.store import DeliveriesView

settings_key = web.AppKey("settings_key", Settings)
time_tracking_key = web.AppKey("time_tracking_key", TimeTracking)
command_executor_key = web.AppKey("command_executor_key", ThreadPoolExecutor)
read_pool_key = web.AppKey("read_pool_key", AsyncConnectionPool[Any])
redis_key = web.AppKey("redis_key", Redis)
accounts_view_key = web.AppKey("accounts_view_key", AccountsView)
clients_view_key = web.AppKey("clients_view_key", ClientsView)
projects_view_key = web.AppKey("projects_view_key", ProjectsView)
tasks_view_key = web.AppKey("tasks_view_key", TasksView)
time_entries_view_key = web.AppKey("time_entries_view_key", TimeEntriesView)
running_timers_view_key = web.AppKey("running_timers_view_key", RunningTimersView)
freshness_key = web.AppKey("freshness_key", Freshness)
event_log_key = web.AppKey("event_log_key", EventLog)
time_travel_view_key = web.AppKey("time_travel_view_key", TimeTravelView)
report_groups_view_key = web.AppKey("report_groups_view_key", ReportGroupsView)
idempotency_store_key = web.AppKey("idempotency_store_key", IdempotencyStore)
rate_limiter_key = web.AppKey("rate_limiter_key", RateLimiter)
token_usage_key = web.AppKey("token_usage_key", TokenUsage)
rebuild_jobs_key = web.AppKey("rebuild_jobs_key", RebuildJobs)
rate_windows_key = web.AppKey("rate_windows_key", list[Window])
backup_jobs_key = web.AppKey("backup_jobs_key", BackupJobs)
maintenance_key = web.AppKey("maintenance_key", MaintenanceFlag)
webhooks_view_key = web.AppKey("webhooks_view_key", WebhooksView)
webhook_deliveries_key = web.AppKey("webhook_deliveries_key", DeliveriesView)
webhook_guard_key = web.AppKey("webhook_guard_key", AddressGuard)
webhook_deliverer_key = web.AppKey("webhook_deliverer_key", Deliverer)

# Per-request values the middlewares put on the request.
request_id_key = web.RequestKey("request_id_key", str)
caller_key = web.RequestKey("caller_key", Caller)
body_key = web.RequestKey("body_key", dict[str, Any])
query_key = web.RequestKey("query_key", dict[str, Any])
path_key = web.RequestKey("path_key", dict[str, Any])
rate_decision_key = web.RequestKey("rate_decision_key", Decision)
# The position of the read models a GET answers from, read before its handler ran
# (`Freshness.covering`: never behind a write answered by any process).
read_position_key = web.RequestKey("read_position_key", int)
# The request's hold on its Idempotency-Key, handed to its command (`writes.execute`).
claim_key = web.RequestKey("claim_key", KeyClaim)
# The whole body, where a middleware read it before a handler that streams it (`streams_body`).
read_body_key = web.RequestKey("read_body_key", bytes)
