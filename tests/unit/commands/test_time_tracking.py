"""TimeTracking commands, in memory; the same tests run on PostgreSQL at the end."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.domain import Aggregate

from timetracker.commands.application import TimeTracking
from timetracker.commands.errors import (
    NotFoundError,
    UnknownReferenceError,
    VersionMismatchError,
    WriteContentionError,
)
from timetracker.commands.messages import (
    ArchiveClient,
    ArchiveProject,
    CreateClient,
    CreateProject,
    DeactivateUser,
    IssueApiToken,
    RegisterUser,
    RevokeApiToken,
    UpdateClient,
    UpdateProject,
    Written,
)
from timetracker.commands.store import MAX_WRITE_ATTEMPTS
from timetracker.domain.api_token import ApiToken
from timetracker.domain.client import Client
from timetracker.domain.errors import (
    AlreadyArchivedError,
    InvalidValueError,
    NameTakenError,
    TokenAlreadyRevokedError,
    UserDeactivatedError,
)
from timetracker.domain.name_claim import NameClaim, claim_id
from timetracker.domain.project import Project
from timetracker.domain.user import User
from timetracker.domain.values import Stamp
from timetracker.http.settings import Settings

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def stamp(minutes: int = 0, request_id: str = "req-0", user_id: int | None = 1) -> Stamp:
    return Stamp(
        at=T0 + timedelta(minutes=minutes),
        user_id=user_id,
        token_id=2,
        token_prefix="tt_abcde",
        request_id=request_id,
    )


def head(app: TimeTracking) -> int:
    """The position of the last event in the log (0 when empty)."""
    return app.recorder.max_notification_id() or 0


def logged(app: TimeTracking, after: int = 0) -> list[Aggregate.Event]:
    """Every event in the log after position `after`, in order."""
    notifications = app.recorder.select_notifications(
        start=after, limit=10_000, inclusive_of_start=False
    )
    return [app.mapper.to_domain_event(n) for n in notifications]


def kinds(events: list[Aggregate.Event]) -> list[str]:
    return [type(e).__qualname__ for e in events]


def claim_holder(app: TimeTracking, kind: str, name: str) -> int | None:
    claim = app.load_optional(NameClaim, claim_id(kind, name))
    assert claim is not None, f"no claim on {kind} {name!r}"
    return claim.holder


def run_at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(0..count-1)` in `count` threads released together; results or exceptions."""
    barrier = threading.Barrier(count)

    def attempt(i: int) -> Any:
        barrier.wait()
        try:
            return work(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(attempt, range(count)))


class TestTimeTracking:
    """Each command's behaviour on the in-memory event store."""

    @pytest.fixture
    def env(self) -> dict[str, str] | None:
        return None

    @pytest.fixture
    def app(self, env: dict[str, str] | None) -> Iterator[TimeTracking]:
        app = TimeTracking(env)
        yield app
        app.close()

    def register(self, app: TimeTracking, username: str = "alice") -> Written:
        return app.register_user(RegisterUser(username, None, None, "user", stamp()))

    def create_client(self, app: TimeTracking, name: str = "Acme") -> Written:
        return app.create_client(CreateClient({"name": name}, stamp()))

    def create_project(self, app: TimeTracking, **values: Any) -> Written:
        return app.create_project(CreateProject({"name": "Website", **values}, stamp()))

    # Users

    def test_registering_a_user_records_the_user_and_its_name_claim(
        self, app: TimeTracking
    ) -> None:
        written = app.register_user(
            RegisterUser(" alice ", "a@example.com", "Alice", "admin", stamp(request_id="r-1"))
        )
        assert written == Written(id=1, version=1, position=head(app))
        events = logged(app)
        assert kinds(events) == ["User.Registered", "NameClaim.Claimed"]
        user = app.load(User, "user", 1)
        assert (user.username, user.email, user.full_name, user.role) == (
            "alice",
            "a@example.com",
            "Alice",
            "admin",
        )
        assert claim_holder(app, "user", "ALICE") == 1

    def test_users_are_numbered_one_after_another(self, app: TimeTracking) -> None:
        assert [self.register(app, name).id for name in ("a", "b", "c")] == [1, 2, 3]

    def test_a_taken_username_is_refused_whatever_its_case(self, app: TimeTracking) -> None:
        self.register(app, "alice")
        before = head(app)
        with pytest.raises(NameTakenError):
            self.register(app, "  ALICE ")
        assert head(app) == before

    def test_an_invalid_registration_writes_nothing(self, app: TimeTracking) -> None:
        with pytest.raises(InvalidValueError) as caught:
            app.register_user(RegisterUser("bob", None, None, "root", stamp()))
        assert caught.value.field == "role"
        assert head(app) == 0

    def test_a_user_is_found_by_name_whatever_its_case(self, app: TimeTracking) -> None:
        self.register(app, "alice")
        self.register(app, "bob")
        assert app.user_by_name("BOB").number == 2
        with pytest.raises(NotFoundError):
            app.user_by_name("carol")

    # API tokens

    def test_issuing_a_token_returns_the_secret_and_stores_only_its_hash(
        self, app: TimeTracking
    ) -> None:
        self.register(app, "alice")
        issued = app.issue_api_token(
            IssueApiToken("Alice", ["read:*", "write:projects"], "ci", None, stamp(1))
        )
        assert re.fullmatch(r"tt_[A-Za-z0-9_-]{32}", issued.token)
        assert issued.prefix == issued.token[:8]
        assert (issued.id, issued.position) == (1, head(app))
        token = app.load(ApiToken, "api_token", 1)
        assert token.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
        assert (token.user_id, token.scopes) == (1, ["read:*", "write:projects"])
        stored = app.recorder.select_notifications(start=1, limit=100)
        assert stored
        assert all(issued.token.encode() not in n.state for n in stored)

    def test_a_token_for_an_unknown_user_is_refused(self, app: TimeTracking) -> None:
        with pytest.raises(NotFoundError):
            app.issue_api_token(IssueApiToken("nobody", ["read:*"], "ci", None, stamp()))
        assert head(app) == 0

    def test_a_deactivated_user_gets_no_token(self, app: TimeTracking) -> None:
        """Its token would be refused from birth (the console showed one anyway)."""
        written = self.register(app, "alice")
        app.deactivate_user(DeactivateUser(written.id, stamp()))
        before = head(app)
        with pytest.raises(UserDeactivatedError):
            app.issue_api_token(IssueApiToken("alice", ["read:*"], "ci", None, stamp()))
        assert head(app) == before

    def test_a_token_with_an_unknown_scope_writes_nothing(self, app: TimeTracking) -> None:
        self.register(app, "alice")
        before = head(app)
        with pytest.raises(InvalidValueError) as caught:
            app.issue_api_token(IssueApiToken("alice", ["root:all"], "ci", None, stamp()))
        assert caught.value.field == "scopes"
        assert head(app) == before

    def test_a_token_that_expired_already_writes_nothing(self, app: TimeTracking) -> None:
        self.register(app, "alice")
        before = head(app)
        with pytest.raises(InvalidValueError) as caught:
            app.issue_api_token(
                IssueApiToken("alice", ["read:*"], "ci", T0 - timedelta(days=1), stamp())
            )
        assert caught.value.field == "expires_at"
        assert head(app) == before

    def test_revoking_a_token_records_when(self, app: TimeTracking) -> None:
        self.register(app, "alice")
        issued = app.issue_api_token(IssueApiToken("alice", ["read:*"], "ci", None, stamp()))
        written = app.revoke_api_token(RevokeApiToken(issued.id, stamp(9, request_id="r-rev")))
        assert written == Written(id=issued.id, version=2, position=head(app))
        assert kinds(logged(app, issued.position)) == ["ApiToken.Revoked"]
        assert app.load(ApiToken, "api_token", issued.id).revoked_at == T0 + timedelta(minutes=9)

    def test_revoking_a_token_twice_is_refused(self, app: TimeTracking) -> None:
        self.register(app, "alice")
        issued = app.issue_api_token(IssueApiToken("alice", ["read:*"], "ci", None, stamp()))
        app.revoke_api_token(RevokeApiToken(issued.id, stamp(1)))
        before = head(app)
        with pytest.raises(TokenAlreadyRevokedError):
            app.revoke_api_token(RevokeApiToken(issued.id, stamp(2)))
        assert head(app) == before

    def test_revoking_an_unknown_token_is_not_found(self, app: TimeTracking) -> None:
        with pytest.raises(NotFoundError) as caught:
            app.revoke_api_token(RevokeApiToken(42, stamp()))
        assert (caught.value.kind, caught.value.number) == ("api_token", 42)

    # Clients

    def test_creating_a_client_claims_its_name(self, app: TimeTracking) -> None:
        written = app.create_client(
            CreateClient({"name": "Acme", "default_hourly_rate": Decimal("80.50")}, stamp())
        )
        assert written == Written(id=1, version=1, position=head(app))
        assert kinds(logged(app)) == ["Client.Created", "NameClaim.Claimed"]
        assert claim_holder(app, "client", "acme") == 1
        assert app.load(Client, "client", 1).default_hourly_rate == Decimal("80.50")

    def test_a_client_name_held_by_an_active_client_is_refused(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        before = head(app)
        with pytest.raises(NameTakenError):
            self.create_client(app, " ACME ")
        assert head(app) == before

    def test_renaming_a_client_moves_its_name_claim(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        before = head(app)
        written = app.update_client(UpdateClient(1, {"name": "Globex"}, stamp(1)))
        assert written == Written(id=1, version=2, position=head(app))
        assert sorted(kinds(logged(app, before))) == [
            "Client.Updated",
            "NameClaim.Claimed",
            "NameClaim.Released",
        ]
        assert claim_holder(app, "client", "Globex") == 1
        assert claim_holder(app, "client", "Acme") is None
        assert self.create_client(app, "Acme").id == 2
        with pytest.raises(NameTakenError):
            self.create_client(app, "globex")

    def test_renaming_a_client_to_a_held_name_writes_nothing(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        self.create_client(app, "Globex")
        before = head(app)
        with pytest.raises(NameTakenError):
            app.update_client(UpdateClient(1, {"name": "GLOBEX", "phone": "1"}, stamp(1)))
        assert head(app) == before
        assert app.load(Client, "client", 1).name == "Acme"

    def test_changing_the_case_of_a_client_name_keeps_its_claim(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        before = head(app)
        app.update_client(UpdateClient(1, {"name": "ACME"}, stamp(1)))
        assert kinds(logged(app, before)) == ["Client.Updated"]
        assert claim_holder(app, "client", "acme") == 1

    def test_an_update_that_changes_nothing_writes_nothing(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        before = head(app)
        written = app.update_client(UpdateClient(1, {"name": "Acme", "email": None}, stamp(1)))
        assert written == Written(id=1, version=1, position=None)
        assert head(app) == before

    def test_archiving_a_client_releases_its_name(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        before = head(app)
        written = app.archive_client(ArchiveClient(1, stamp(1)))
        assert written == Written(id=1, version=2, position=head(app))
        assert kinds(logged(app, before)) == ["Client.Archived", "NameClaim.Released"]
        assert app.load(Client, "client", 1).is_archived
        assert claim_holder(app, "client", "Acme") is None
        assert self.create_client(app, "acme").id == 2

    def test_archiving_a_client_through_an_update_releases_its_name(
        self, app: TimeTracking
    ) -> None:
        self.create_client(app, "Acme")
        written = app.update_client(UpdateClient(1, {"status": "archived"}, stamp(1)))
        assert written.version == 2
        assert claim_holder(app, "client", "Acme") is None

    def test_renaming_and_archiving_a_client_at_once_holds_no_name(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        app.update_client(UpdateClient(1, {"name": "Acme Old", "status": "archived"}, stamp(1)))
        assert claim_holder(app, "client", "Acme") is None
        assert app.load_optional(NameClaim, claim_id("client", "Acme Old")) is None
        assert self.create_client(app, "Acme Old").id == 2

    def test_reactivating_a_client_takes_its_name_again(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        app.archive_client(ArchiveClient(1, stamp(1)))
        before = head(app)
        written = app.update_client(UpdateClient(1, {"status": "active"}, stamp(2)))
        assert written.version == 3
        assert sorted(kinds(logged(app, before))) == ["Client.Updated", "NameClaim.Reclaimed"]
        assert claim_holder(app, "client", "Acme") == 1
        with pytest.raises(NameTakenError):
            self.create_client(app, "ACME")

    def test_reactivating_a_client_whose_name_was_taken_meanwhile_is_refused(
        self, app: TimeTracking
    ) -> None:
        self.create_client(app, "Acme")
        app.archive_client(ArchiveClient(1, stamp(1)))
        self.create_client(app, "Acme")
        before = head(app)
        with pytest.raises(NameTakenError):
            app.update_client(UpdateClient(1, {"status": "active"}, stamp(2)))
        assert head(app) == before
        assert app.load(Client, "client", 1).is_archived
        assert claim_holder(app, "client", "Acme") == 2

    def test_archiving_an_archived_client_is_refused(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        app.archive_client(ArchiveClient(1, stamp(1)))
        before = head(app)
        with pytest.raises(AlreadyArchivedError):
            app.archive_client(ArchiveClient(1, stamp(2)))
        assert head(app) == before

    def test_updating_an_unknown_client_is_not_found(self, app: TimeTracking) -> None:
        with pytest.raises(NotFoundError) as caught:
            app.update_client(UpdateClient(99, {"name": "X"}, stamp()))
        assert (caught.value.kind, caught.value.number) == ("client", 99)

    def test_a_stale_if_match_on_a_client_writes_nothing(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        app.update_client(UpdateClient(1, {"email": "a@acme.test"}, stamp(1)))
        before = head(app)
        with pytest.raises(VersionMismatchError) as caught:
            app.update_client(UpdateClient(1, {"name": "Globex"}, stamp(2), expected_version=1))
        assert (caught.value.expected, caught.value.actual) == (1, 2)
        with pytest.raises(VersionMismatchError):
            app.archive_client(ArchiveClient(1, stamp(2), expected_version=1))
        assert head(app) == before
        assert claim_holder(app, "client", "Acme") == 1

    def test_the_current_if_match_on_a_client_is_accepted(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        written = app.update_client(UpdateClient(1, {"phone": "1"}, stamp(1), expected_version=1))
        assert written.version == 2
        assert app.archive_client(ArchiveClient(1, stamp(2), expected_version=2)).version == 3

    # Projects

    def test_creating_a_project_records_project_created(self, app: TimeTracking) -> None:
        written = self.create_project(app, hourly_rate=Decimal("75.50"), status="on_hold")
        assert written == Written(id=1, version=1, position=head(app))
        assert kinds(logged(app)) == ["Project.Created"]
        project = app.load(Project, "project", 1)
        assert (project.name, project.hourly_rate, project.status) == (
            "Website",
            Decimal("75.50"),
            "on_hold",
        )

    def test_a_project_without_a_name_writes_nothing(self, app: TimeTracking) -> None:
        with pytest.raises(InvalidValueError) as caught:
            app.create_project(CreateProject({"description": "no name"}, stamp()))
        assert caught.value.field == "name"
        assert head(app) == 0

    def test_a_client_without_a_name_writes_nothing(self, app: TimeTracking) -> None:
        with pytest.raises(InvalidValueError) as caught:
            app.create_client(CreateClient({"email": "a@acme.test"}, stamp()))
        assert caught.value.field == "name"
        assert head(app) == 0

    def test_a_project_of_an_existing_client_is_created(self, app: TimeTracking) -> None:
        self.create_client(app, "Acme")
        self.create_project(app, client_id=1)
        assert app.load(Project, "project", 1).client_id == 1

    def test_a_project_of_an_unknown_client_is_refused(self, app: TimeTracking) -> None:
        with pytest.raises(UnknownReferenceError) as caught:
            self.create_project(app, client_id=7)
        assert caught.value.field == "client_id"
        assert head(app) == 0
        assert self.create_project(app).id == 1

    def test_moving_a_project_to_an_unknown_client_is_refused(self, app: TimeTracking) -> None:
        self.create_project(app)
        with pytest.raises(UnknownReferenceError) as caught:
            app.update_project(UpdateProject(1, {"client_id": 3}, stamp(1)))
        assert caught.value.field == "client_id"
        assert app.load(Project, "project", 1).version == 1

    def test_setting_a_project_archived_records_updated_and_archived(
        self, app: TimeTracking
    ) -> None:
        self.create_project(app)
        before = head(app)
        written = app.update_project(
            UpdateProject(1, {"name": "Old site", "status": "archived"}, stamp(5))
        )
        assert written == Written(id=1, version=3, position=head(app))
        assert kinds(logged(app, before)) == ["Project.Updated", "Project.Archived"]
        project = app.load(Project, "project", 1)
        assert (project.name, project.status) == ("Old site", "archived")
        assert project.archived_at == T0 + timedelta(minutes=5)

    def test_archiving_a_project_records_when(self, app: TimeTracking) -> None:
        self.create_project(app)
        written = app.archive_project(ArchiveProject(1, stamp(3)))
        assert written == Written(id=1, version=2, position=head(app))
        assert app.load(Project, "project", 1).archived_at == T0 + timedelta(minutes=3)

    def test_archiving_an_archived_project_is_refused(self, app: TimeTracking) -> None:
        self.create_project(app)
        app.archive_project(ArchiveProject(1, stamp(3)))
        before = head(app)
        with pytest.raises(AlreadyArchivedError):
            app.archive_project(ArchiveProject(1, stamp(4)))
        assert head(app) == before

    def test_a_stale_if_match_on_a_project_writes_nothing(self, app: TimeTracking) -> None:
        self.create_project(app)
        app.update_project(UpdateProject(1, {"billable": False}, stamp(1)))
        before = head(app)
        with pytest.raises(VersionMismatchError):
            app.update_project(UpdateProject(1, {"name": "X"}, stamp(2), expected_version=1))
        with pytest.raises(VersionMismatchError):
            app.archive_project(ArchiveProject(1, stamp(2), expected_version=3))
        assert head(app) == before
        written = app.update_project(UpdateProject(1, {"name": "X"}, stamp(2), expected_version=2))
        assert written.version == 3

    def test_an_unknown_project_is_not_found(self, app: TimeTracking) -> None:
        with pytest.raises(NotFoundError) as caught:
            app.archive_project(ArchiveProject(5, stamp()))
        assert (caught.value.kind, caught.value.number) == ("project", 5)

    # What every write records

    def test_every_event_records_the_stamp_of_its_command(self, app: TimeTracking) -> None:
        stamps = [stamp(i, request_id=f"r-{i}", user_id=i + 10) for i in range(5)]
        app.register_user(RegisterUser("alice", None, None, "user", stamps[0]))
        app.create_client(CreateClient({"name": "Acme"}, stamps[1]))
        app.update_client(UpdateClient(1, {"name": "Globex"}, stamps[2]))
        app.create_project(CreateProject({"name": "Site", "client_id": 1}, stamps[3]))
        app.update_project(UpdateProject(1, {"status": "archived", "name": "S"}, stamps[4]))
        events: list[Any] = logged(app)
        seen = [(e.request_id, e.actor, e.timestamp) for e in events]
        written_per_command = [2, 2, 3, 1, 2]
        expected = [
            (s.request_id, {"user_id": s.user_id, "token_id": 2, "token_prefix": "tt_abcde"}, s.at)
            for s, count in zip(stamps, written_per_command, strict=True)
            for _ in range(count)
        ]
        assert seen == expected

    # Retries

    def test_a_write_is_retried_when_another_writer_appended_first(self, app: TimeTracking) -> None:
        self.create_project(app)
        attempts = 0

        def decide() -> list[Aggregate]:
            nonlocal attempts
            attempts += 1
            project = app.load(Project, "project", 1)
            if attempts == 1:  # a competing change lands after our load, before our save
                app.update_project(UpdateProject(1, {"description": "theirs"}, stamp(1)))
            project.update({"name": "mine"}, stamp(2))
            return [project]

        position = app.write(decide)
        assert attempts == 2
        assert position == head(app)
        project = app.load(Project, "project", 1)
        assert (project.name, project.description, project.version) == ("mine", "theirs", 3)
        assert kinds(logged(app)) == ["Project.Created", "Project.Updated", "Project.Updated"]

    def test_a_write_gives_up_after_the_last_attempt(self, app: TimeTracking) -> None:
        self.create_project(app)
        attempts = 0

        def decide() -> list[Aggregate]:
            nonlocal attempts
            attempts += 1
            project = app.load(Project, "project", 1)
            app.update_project(UpdateProject(1, {"description": f"theirs {attempts}"}, stamp(1)))
            project.update({"name": "mine"}, stamp(2))
            return [project]

        with pytest.raises(WriteContentionError):
            app.write(decide)
        assert attempts == MAX_WRITE_ATTEMPTS
        project = app.load(Project, "project", 1)
        assert project.version == 1 + MAX_WRITE_ATTEMPTS
        assert (project.name, project.description) == ("Website", f"theirs {MAX_WRITE_ATTEMPTS}")

    def test_concurrent_changes_to_one_project_are_all_kept(self, app: TimeTracking) -> None:
        self.create_project(app)
        changes: list[dict[str, Any]] = [
            {"description": "d"},
            {"hourly_rate": Decimal("10")},
            {"estimated_hours": Decimal("20")},
            {"billable": False},
        ]
        results = run_at_once(
            len(changes),
            lambda i: app.update_project(UpdateProject(1, changes[i], stamp(i + 1))),
        )
        assert all(isinstance(r, Written) for r in results), results
        assert sorted(r.version for r in results) == [2, 3, 4, 5]
        project = app.load(Project, "project", 1)
        assert (project.description, project.hourly_rate) == ("d", Decimal("10"))
        assert (project.estimated_hours, project.billable) == (Decimal("20"), False)

    def test_of_concurrent_clients_with_one_name_exactly_one_is_created(
        self, app: TimeTracking
    ) -> None:
        results = run_at_once(4, lambda i: self.create_client(app, "Acme" if i % 2 else "ACME"))
        winners = [r for r in results if isinstance(r, Written)]
        assert len(winners) == 1, results
        assert all(isinstance(r, NameTakenError) for r in results if r not in winners)
        assert kinds(logged(app)) == ["Client.Created", "NameClaim.Claimed"]
        assert claim_holder(app, "client", "acme") == winners[0].id

    def test_ids_from_concurrent_threads_are_distinct_and_increasing(
        self, app: TimeTracking
    ) -> None:
        per_thread = 25
        results = run_at_once(
            6, lambda _: [app.ids.next_id("time_entry") for _ in range(per_thread)]
        )
        for ids in results:
            assert ids == sorted(ids)
        every = [i for ids in results for i in ids]
        assert sorted(every) == list(range(1, 6 * per_thread + 1))
        assert app.ids.next_id("task") == 1


@pytest.mark.integration
class TestTimeTrackingOnPostgres(TestTimeTracking):
    """The same behaviour on the PostgreSQL event store."""

    @pytest.fixture
    def env(self, settings: Settings) -> dict[str, str]:
        return settings.event_store_env()
