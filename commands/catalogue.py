"""Commands for the shared catalogue: clients and projects."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from timetracker.commands.errors import NotFoundError, UnknownReferenceError
from timetracker.commands.messages import (
    ArchiveClient,
    ArchiveProject,
    CreateClient,
    CreateProject,
    UpdateClient,
    UpdateProject,
    Written,
)
from timetracker.commands.store import EventStore, check_version
from timetracker.domain.client import Client
from timetracker.domain.name_claim import NameClaim, claim_id
from timetracker.domain.project import Project
from timetracker.domain.values import Stamp


class CatalogueCommands(EventStore):
    """Create, change and archive clients and projects."""

    def _claim_client_name(self, name: str, holder: int, stamp: Stamp) -> NameClaim:
        claim = self.load_optional(NameClaim, claim_id("client", name))
        if claim is None:
            return NameClaim.take("client", name, holder, stamp)
        claim.retake(holder, stamp)
        return claim

    def _release_client_name(self, name: str, holder: int, stamp: Stamp) -> list[Aggregate]:
        claim = self.load_optional(NameClaim, claim_id("client", name))
        if claim is None:
            return []
        claim.release(holder, stamp)
        return [claim]

    def create_client(self, cmd: CreateClient) -> Written:
        """Create a client; its name must not be held by another active client."""
        number = self.ids.next_id("client")

        def decide() -> list[Aggregate]:
            client = Client.create(number, cmd.values, cmd.stamp)
            return [client, self._claim_client_name(client.name, number, cmd.stamp)]

        position = self.write(decide)
        return Written(id=number, version=1, position=position)

    def update_client(self, cmd: UpdateClient) -> Written:
        """Change a client's fields; a new name is claimed, the old one released."""
        versions: list[int] = []

        def decide() -> list[Aggregate]:
            client = self.load(Client, "client", cmd.client_id)
            check_version(client, cmd.expected_version)
            old_name, was_archived = client.name, client.is_archived
            changes = client.update(cmd.values, cmd.stamp)
            versions.append(client.version)
            touched: list[Aggregate] = [client]
            renamed = "name" in changes and old_name.casefold() != client.name.casefold()
            if not client.is_archived and (renamed or was_archived):
                touched.append(self._claim_client_name(client.name, client.number, cmd.stamp))
            if renamed or (client.is_archived and not was_archived):
                touched += self._release_client_name(old_name, client.number, cmd.stamp)
            return touched

        position = self.write(decide)
        return Written(id=cmd.client_id, version=versions[-1], position=position)

    def archive_client(self, cmd: ArchiveClient) -> Written:
        """Archive a client and free its name."""
        versions: list[int] = []

        def decide() -> list[Aggregate]:
            client = self.load(Client, "client", cmd.client_id)
            check_version(client, cmd.expected_version)
            client.archive(cmd.stamp)
            versions.append(client.version)
            return [client, *self._release_client_name(client.name, client.number, cmd.stamp)]

        position = self.write(decide)
        return Written(id=cmd.client_id, version=versions[-1], position=position)

    def _check_client_reference(self, client_id: int | None) -> None:
        if client_id is None:
            return
        try:
            self.load(Client, "client", client_id)
        except NotFoundError:
            raise UnknownReferenceError(
                "client_id", f"Client {client_id} does not exist."
            ) from None

    def create_project(self, cmd: CreateProject) -> Written:
        """Create a project; a named client must exist."""
        self._check_client_reference(cmd.values.get("client_id"))
        number = self.ids.next_id("project")
        position = self.write(lambda: [Project.create(number, cmd.values, cmd.stamp)])
        return Written(id=number, version=1, position=position)

    def update_project(self, cmd: UpdateProject) -> Written:
        """Change a project's fields (status `archived` archives it)."""
        if "client_id" in cmd.values:
            self._check_client_reference(cmd.values["client_id"])
        versions: list[int] = []

        def decide() -> list[Aggregate]:
            project = self.load(Project, "project", cmd.project_id)
            check_version(project, cmd.expected_version)
            project.update(cmd.values, cmd.stamp)
            versions.append(project.version)
            return [project]

        position = self.write(decide)
        return Written(id=cmd.project_id, version=versions[-1], position=position)

    def archive_project(self, cmd: ArchiveProject) -> Written:
        """Archive a project: still readable, no new time on it."""
        versions: list[int] = []

        def decide() -> list[Aggregate]:
            project = self.load(Project, "project", cmd.project_id)
            check_version(project, cmd.expected_version)
            project.archive(cmd.stamp)
            versions.append(project.version)
            return [project]

        position = self.write(decide)
        return Written(id=cmd.project_id, version=versions[-1], position=position)
