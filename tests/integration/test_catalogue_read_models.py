"""Commands, then a catch-up of each read model: the rows say what the events said."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.integration.history import dump, positions
from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import (
    ArchiveClient,
    ArchiveProject,
    CreateClient,
    CreateProject,
    IssueApiToken,
    RegisterUser,
    RevokeApiToken,
    UpdateClient,
    UpdateProject,
)
from timetracker.domain.values import Stamp, aggregate_id
from timetracker.http.settings import Settings
from timetracker.projections.base import Projection
from timetracker.projections.engine.runner import ProjectionRunner

pytestmark = pytest.mark.integration

T0 = datetime(2024, 4, 1, 10, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(minutes: int) -> Stamp:
    return Stamp(at=at(minutes), user_id=1, token_id=1, request_id=f"r-{minutes}")


def catch_up(store: TimeTracking, projections: list[Projection], conninfo: str) -> list[int]:
    read = []
    for projection in projections:
        runner = ProjectionRunner(store, projection, conninfo)
        try:
            read.append(runner.catch_up())
        finally:
            runner.close()
    return read


def rows(conninfo: str, query: str) -> list[dict[str, Any]]:
    with psycopg.connect(conninfo, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


def test_the_accounts_read_model_holds_users_and_token_hashes(
    store: TimeTracking, projections: list[Projection], settings: Settings
) -> None:
    store.register_user(RegisterUser("alice", "a@example.test", "Alice", "admin", stamp(0)))
    store.register_user(RegisterUser("bob", None, None, "user", stamp(1)))
    first = store.issue_api_token(
        IssueApiToken("alice", ["write:*", "read:*"], "laptop", at(60 * 24), stamp(2))
    )
    second = store.issue_api_token(IssueApiToken("bob", ["read:projects"], "ci", None, stamp(3)))
    store.revoke_api_token(RevokeApiToken(first.id, stamp(4)))

    catch_up(store, projections, settings.conninfo)

    assert rows(settings.conninfo, "SELECT * FROM users ORDER BY id") == [
        {
            "id": 1,
            "aggregate_id": aggregate_id("user", 1),
            "username": "alice",
            "email": "a@example.test",
            "full_name": "Alice",
            "role": "admin",
            "is_active": True,
            "created_at": at(0),
            "version": 1,
            "password_hash": None,
            "timezone": "UTC",
        },
        {
            "id": 2,
            "aggregate_id": aggregate_id("user", 2),
            "username": "bob",
            "email": None,
            "full_name": None,
            "role": "user",
            "is_active": True,
            "created_at": at(1),
            "version": 1,
            "password_hash": None,
            "timezone": "UTC",
        },
    ]
    assert rows(settings.conninfo, "SELECT * FROM api_tokens ORDER BY id") == [
        {
            "id": first.id,
            "aggregate_id": aggregate_id("api_token", first.id),
            "user_id": 1,
            "name": "laptop",
            "prefix": first.prefix,
            "token_hash": hashlib.sha256(first.token.encode()).hexdigest(),
            "scopes": ["read:*", "write:*"],
            "created_at": at(2),
            "expires_at": at(60 * 24),
            "revoked_at": at(4),
            "version": 2,
        },
        {
            "id": second.id,
            "aggregate_id": aggregate_id("api_token", second.id),
            "user_id": 2,
            "name": "ci",
            "prefix": second.prefix,
            "token_hash": hashlib.sha256(second.token.encode()).hexdigest(),
            "scopes": ["read:projects"],
            "created_at": at(3),
            "expires_at": None,
            "revoked_at": None,
            "version": 1,
        },
    ]


def test_the_clients_read_model_follows_renames_and_archiving(
    store: TimeTracking, projections: list[Projection], settings: Settings
) -> None:
    store.create_client(
        CreateClient({"name": "Acme", "default_hourly_rate": Decimal("80.50")}, stamp(0))
    )
    store.create_client(CreateClient({"name": "Initech", "phone": "555"}, stamp(1)))
    store.update_client(UpdateClient(1, {"name": "Globex", "email": "b@globex.test"}, stamp(2)))
    store.archive_client(ArchiveClient(2, stamp(3)))
    store.update_client(UpdateClient(2, {"status": "active", "company": "Initech Inc"}, stamp(4)))

    catch_up(store, projections, settings.conninfo)

    assert rows(
        settings.conninfo,
        "SELECT id, aggregate_id, name, email, company, phone, contact_person, address,"
        " default_hourly_rate, status, created_at, updated_at, version FROM clients ORDER BY id",
    ) == [
        {
            "id": 1,
            "aggregate_id": aggregate_id("client", 1),
            "name": "Globex",
            "email": "b@globex.test",
            "company": None,
            "phone": None,
            "contact_person": None,
            "address": None,
            "default_hourly_rate": Decimal("80.50"),
            "status": "active",
            "created_at": at(0),
            "updated_at": at(2),
            "version": 2,
        },
        {
            "id": 2,
            "aggregate_id": aggregate_id("client", 2),
            "name": "Initech",
            "email": None,
            "company": "Initech Inc",
            "phone": "555",
            "contact_person": None,
            "address": None,
            "default_hourly_rate": None,
            "status": "active",
            "created_at": at(1),
            "updated_at": at(4),
            "version": 3,
        },
    ]


def test_the_projects_read_model_follows_updates_archiving_and_return(
    store: TimeTracking, projections: list[Projection], settings: Settings
) -> None:
    store.create_client(CreateClient({"name": "Acme"}, stamp(0)))
    store.create_project(
        CreateProject({"name": "Website", "client_id": 1, "hourly_rate": Decimal("75.5")}, stamp(1))
    )
    store.create_project(CreateProject({"name": "App", "billable": False}, stamp(2)))
    store.create_project(CreateProject({"name": "Audit", "status": "on_hold"}, stamp(3)))
    store.update_project(UpdateProject(1, {"estimated_hours": Decimal("120")}, stamp(4)))
    store.update_project(UpdateProject(2, {"name": "App v1", "status": "archived"}, stamp(5)))
    store.archive_project(ArchiveProject(3, stamp(6)))
    store.update_project(UpdateProject(3, {"status": "on_hold"}, stamp(7)))

    catch_up(store, projections, settings.conninfo)

    columns = (
        "id, name, description, client_id, hourly_rate, estimated_hours, billable, status,"
        " created_at, updated_at, archived_at, version"
    )
    assert rows(settings.conninfo, f"SELECT {columns} FROM projects ORDER BY id") == [
        {
            "id": 1,
            "name": "Website",
            "description": None,
            "client_id": 1,
            "hourly_rate": Decimal("75.5"),
            "estimated_hours": Decimal("120"),
            "billable": True,
            "status": "active",
            "created_at": at(1),
            "updated_at": at(4),
            "archived_at": None,
            "version": 2,
        },
        {
            "id": 2,
            "name": "App v1",
            "description": None,
            "client_id": None,
            "hourly_rate": None,
            "estimated_hours": None,
            "billable": False,
            "status": "archived",
            "created_at": at(2),
            "updated_at": at(5),
            "archived_at": at(5),
            "version": 3,
        },
        {
            "id": 3,
            "name": "Audit",
            "description": None,
            "client_id": None,
            "hourly_rate": None,
            "estimated_hours": None,
            "billable": True,
            "status": "on_hold",
            "created_at": at(3),
            "updated_at": at(7),
            "archived_at": None,
            "version": 3,
        },
    ]


def test_a_caught_up_read_model_is_at_the_log_head_and_a_second_catch_up_reads_nothing(
    store: TimeTracking, projections: list[Projection], settings: Settings
) -> None:
    store.register_user(RegisterUser("alice", None, None, "user", stamp(0)))
    store.create_client(CreateClient({"name": "Acme"}, stamp(1)))
    store.create_project(CreateProject({"name": "Website"}, stamp(2)))
    head = store.recorder.max_notification_id()

    assert catch_up(store, projections, settings.conninfo) == [head, head, head]
    before = dump(settings.conninfo, projections)
    assert catch_up(store, projections, settings.conninfo) == [0, 0, 0]

    assert positions(settings.conninfo) == {p.name: head for p in projections}
    assert dump(settings.conninfo, projections) == before
