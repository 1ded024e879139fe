"""The read models this service keeps."""

from __future__ import annotations

from timetracker.projections.accounts import AccountsProjection
from timetracker.projections.base import Projection, RedisProjection
from timetracker.projections.clients import ClientsProjection
from timetracker.projections.imported_entries import ImportedEntriesProjection
from timetracker.projections.projects import ProjectsProjection
from timetracker.projections.report_groups import ReportGroupsProjection
from timetracker.projections.report_rollups import ReportRollupsProjection
from timetracker.projections.running_timers import RunningTimersProjection
from timetracker.projections.tasks import TasksProjection
from timetracker.projections.time_entries import TimeEntriesProjection
from timetracker.projections.time_travel import TimeTravelProjection
from timetracker.projections.webhooks import WebhooksProjection


def all_projections() -> list[Projection]:
    """One instance of every PostgreSQL projection."""
    return [
        AccountsProjection(),
        ClientsProjection(),
        ProjectsProjection(),
        TasksProjection(),
        TimeEntriesProjection(),
        TimeTravelProjection(),
        ReportGroupsProjection(),
        ImportedEntriesProjection(),
        WebhooksProjection(),
    ]


def redis_projections() -> list[RedisProjection]:
    """One instance of every Redis projection."""
    return [RunningTimersProjection(), ReportRollupsProjection()]


REDIS_PROJECTION_NAMES = frozenset(p.name for p in redis_projections())
