"""The console's history page looks up every kind of resource the registry declares."""

from __future__ import annotations

from timetracker.domain.kinds import KINDS
from timetracker.http.console.history_page import KINDS as PAGE_KINDS


def test_every_registered_kind_can_be_looked_up_with_a_label() -> None:
    assert list(PAGE_KINDS) == [kind.name for kind in KINDS]
    assert PAGE_KINDS["webhook"] == "Webhook"
    assert PAGE_KINDS["time_entry"] == "Time entry"
    assert PAGE_KINDS["api_token"] == "API token"
