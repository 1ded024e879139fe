"""What each token scope grants."""

from __future__ import annotations

import pytest

from timetracker.domain.scopes import KNOWN_SCOPES, RESOURCES, grants


def test_the_known_scopes_are_the_contracts_list() -> None:
    assert {
        "read:projects",
        "write:projects",
        "read:time_entries",
        "write:time_entries",
        "read:tasks",
        "write:tasks",
        "read:clients",
        "write:clients",
        "read:reports",
        "read:users",
        "read:audit",
        "read:webhooks",
        "write:webhooks",
        "admin:all",
        "read:*",
        "write:*",
    } == KNOWN_SCOPES


def test_a_scope_grants_itself() -> None:
    assert grants(["read:projects"], "read:projects")
    assert grants(("write:clients",), "write:clients")
    assert grants(frozenset({"read:audit"}), "read:audit")


def test_a_scope_grants_nothing_else() -> None:
    assert not grants(["read:projects"], "read:clients")
    assert not grants(["read:projects"], "admin:all")
    assert not grants([], "read:projects")


@pytest.mark.parametrize("resource", RESOURCES)
def test_write_does_not_imply_read(resource: str) -> None:
    assert not grants([f"write:{resource}"], f"read:{resource}")
    assert not grants(["write:*"], f"read:{resource}")


@pytest.mark.parametrize("resource", RESOURCES)
def test_read_does_not_imply_write(resource: str) -> None:
    assert not grants([f"read:{resource}"], f"write:{resource}")
    assert not grants(["read:*"], f"write:{resource}")


@pytest.mark.parametrize(
    "required", [f"read:{r}" for r in RESOURCES] + ["read:reports", "read:users"]
)
def test_read_wildcard_grants_every_read_scope(required: str) -> None:
    assert grants(["read:*"], required)


@pytest.mark.parametrize("resource", RESOURCES)
def test_write_wildcard_grants_every_write_scope(resource: str) -> None:
    assert grants(["write:*"], f"write:{resource}")


def test_read_wildcard_does_not_grant_the_audit_feed() -> None:
    assert not grants(["read:*"], "read:audit")
    assert not grants(["read:*", "write:*"], "read:audit")


def test_wildcards_do_not_grant_admin() -> None:
    assert not grants(["read:*", "write:*"], "admin:all")


@pytest.mark.parametrize("required", sorted(KNOWN_SCOPES))
def test_admin_grants_every_scope(required: str) -> None:
    assert grants(["admin:all"], required)
