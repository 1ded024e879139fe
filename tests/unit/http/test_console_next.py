"""Where the console goes after sign-in: only ever one of its own pages."""

from __future__ import annotations

import pytest

from timetracker.http.console.signin import safe_next


@pytest.mark.parametrize("target", ["/admin/users", "/admin/api-tokens?x=1", "/admin/"])
def test_a_console_page_is_kept(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example/admin/",
        "/admin//evil.example",
        "/api/v1/users",
        "/admin/\\\\evil.example",
        "admin/users",
    ],
)
def test_anything_else_goes_to_the_dashboard(target: str | None) -> None:
    assert safe_next(target) == "/admin/"
