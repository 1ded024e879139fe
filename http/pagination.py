"""The `pagination` block of every list response."""

from __future__ import annotations

from typing import Any

from timetracker.http.schemas.common import MAX_PER_PAGE


def page_args(query: dict[str, Any]) -> tuple[int, int]:
    """`page` and `per_page` from a validated query, `per_page` clamped to 100."""
    return int(query["page"]), min(int(query["per_page"]), MAX_PER_PAGE)


def pagination(page: int, per_page: int, total: int) -> dict[str, Any]:
    """`page`, `per_page`, `total`, `pages`, `has_next`, `has_prev`, `next_page`, `prev_page`."""
    pages = (total + per_page - 1) // per_page
    has_next = page < pages
    has_prev = page > 1
    return {
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": pages,
        "has_next": has_next,
        "has_prev": has_prev,
        "next_page": page + 1 if has_next else None,
        "prev_page": page - 1 if has_prev else None,
    }
