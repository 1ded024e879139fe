"""The read models this service keeps."""

from __future__ import annotations

from timetracker.projections.accounts import AccountsProjection
from timetracker.projections.base import Projection
from timetracker.projections.clients import ClientsProjection
from timetracker.projections.projects import ProjectsProjection


def all_projections() -> list[Projection]:
    """One instance of every PostgreSQL projection."""
    return [AccountsProjection(), ClientsProjection(), ProjectsProjection()]
