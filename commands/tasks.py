"""Commands for tasks."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from timetracker.commands.errors import NotFoundError, UnknownReferenceError
from timetracker.commands.messages import CreateTask, DeleteTask, UpdateTask, Written
from timetracker.commands.store import EventStore, check_version
from timetracker.domain.errors import TaskDeletedError
from timetracker.domain.project import Project
from timetracker.domain.task import Task


class TaskCommands(EventStore):
    """Create, change and delete tasks."""

    def project_reference(self, project_id: int) -> Project:
        """The project a request names in `project_id`; 400 on that field if there is none."""
        try:
            return self.load(Project, "project", project_id)
        except NotFoundError:
            raise UnknownReferenceError(
                "project_id", f"Project {project_id} does not exist."
            ) from None

    def load_task(self, task_id: int) -> Task:
        """A task that has not been deleted, or NotFoundError."""
        task = self.load(Task, "task", task_id)
        if task.deleted:
            raise NotFoundError("task", task_id)
        return task

    def create_task(self, cmd: CreateTask) -> Written:
        """Create a task in an existing project that is not archived."""
        project = self.project_reference(cmd.project_id)
        number = self.ids.next_id("task")
        position = self.write(lambda: [Task.create(number, project, cmd.values, cmd.stamp)])
        return Written(id=number, version=1, position=position)

    def update_task(self, cmd: UpdateTask) -> Written:
        """Change a task's fields."""
        versions: list[int] = []

        def decide() -> list[Aggregate]:
            task = self.load_task(cmd.task_id)
            check_version(task, cmd.expected_version)
            task.update(cmd.values, cmd.stamp)
            versions.append(task.version)
            return [task]

        position = self.write(decide)
        return Written(id=cmd.task_id, version=versions[-1], position=position)

    def delete_task(self, cmd: DeleteTask) -> Written:
        """Delete a task; time entries that name it keep their task id."""
        versions: list[int] = []

        def decide() -> list[Aggregate]:
            task = self.load_task(cmd.task_id)
            check_version(task, cmd.expected_version)
            try:
                task.delete(cmd.stamp)
            except TaskDeletedError:
                raise NotFoundError("task", cmd.task_id) from None
            versions.append(task.version)
            return [task]

        position = self.write(decide)
        return Written(id=cmd.task_id, version=versions[-1], position=position)
