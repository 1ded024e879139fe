"""The navigation bar: every console page, in the order the bar shows them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    """One page of the console: its path and the label in the bar."""

    path: str
    label: str


NAV = (
    NavItem("/admin/", "Dashboard"),
    NavItem("/admin/api-tokens", "API tokens"),
    NavItem("/admin/users", "Users"),
    NavItem("/admin/backups", "Backups"),
    NavItem("/admin/restore", "Restore"),
    NavItem("/admin/imports", "Imports"),
    NavItem("/admin/projections", "Read models"),
    NavItem("/admin/history", "History"),
)
