"""Commands for time entries and the running timer."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from timetracker.commands.errors import ItemsInvalidError, NotFoundError, UnknownReferenceError
from timetracker.commands.messages import (
    CreateEntries,
    CreateEntry,
    DeleteEntry,
    EditEntry,
    RestoreEntry,
    RevertEntry,
    StopTimer,
    Written,
    WrittenEntries,
)
from timetracker.commands.store import check_version
from timetracker.commands.tasks import TaskCommands
from timetracker.domain.entry import ENTRY_FIELDS, Entry
from timetracker.domain.errors import (
    EntryDeletedError,
    InvalidValueError,
    NoActiveTimerError,
    NotYourEntryError,
    ProjectIsArchivedError,
    TimeTrackingError,
)
from timetracker.domain.project import Project
from timetracker.domain.task import Task
from timetracker.domain.timer import Timer, timer_id
from timetracker.domain.user import User
from timetracker.domain.values import Stamp


class EntryCommands(TaskCommands):
    """Record, edit and delete time; start and stop timers."""

    def _task_reference(self, task_id: int | None) -> Task | None:
        if task_id is None:
            return None
        try:
            return self.load_task(task_id)
        except NotFoundError:
            raise UnknownReferenceError("task_id", f"Task {task_id} does not exist.") from None

    def _timer(self, user_id: int, stamp: Stamp) -> Timer:
        timer = self.load_optional(Timer, timer_id(user_id))
        return timer if timer is not None else Timer.for_user(user_id, stamp)

    def load_entry(self, entry_id: int, stamp: Stamp) -> Entry:
        """An entry the caller may see; NotFoundError for others' entries and deleted ones."""
        entry = self.load(Entry, "time_entry", entry_id)
        try:
            entry.check_access(stamp)
        except (NotYourEntryError, EntryDeletedError):
            raise NotFoundError("time_entry", entry_id) from None
        return entry

    def _check_user_exists(self, user_id: int) -> None:
        try:
            self.load(User, "user", user_id)
        except NotFoundError:
            raise UnknownReferenceError("user_id", f"User {user_id} does not exist.") from None

    def create_entry(self, cmd: CreateEntry) -> Written:
        """Record an entry; without an end it runs, and the user's timer starts with it."""
        if cmd.user_id != cmd.stamp.user_id:
            self._check_user_exists(cmd.user_id)
        values: dict[str, Any] = {"start_time": cmd.stamp.at, **cmd.values}
        project = self.project_reference(values["project_id"])
        task = self._task_reference(values.get("task_id"))
        number = self.ids.next_id("time_entry")
        saved: list[Entry] = []

        def decide() -> list[Aggregate]:
            entry = Entry.create(number, cmd.user_id, project, task, values, cmd.source, cmd.stamp)
            saved.append(entry)
            if not entry.is_running:
                return [entry]
            timer = self._timer(cmd.user_id, cmd.stamp)
            timer.start(number, cmd.stamp)
            return [entry, timer]

        position = self.write(decide)
        return Written(id=number, version=1, position=position, saved=saved[-1])

    def create_entries(self, cmd: CreateEntries) -> WrittenEntries:
        """Record finished entries all or nothing: every item is checked as a single create
        would be, and any problem (named `<field_prefix>[i].<field>`) writes nothing. The
        ids come in one round trip and the entries are saved in one transaction."""
        errors: dict[str, list[str]] = {}
        projects: dict[int, Project | TimeTrackingError] = {}
        tasks: dict[int, Task | TimeTrackingError] = {}
        users: dict[int, TimeTrackingError | None] = {}

        def cached(cache: dict[int, Any], key: int, load: Any) -> Any:
            if key not in cache:
                try:
                    cache[key] = load(key)
                except TimeTrackingError as exc:
                    cache[key] = exc
            found = cache[key]
            if isinstance(found, TimeTrackingError):
                raise found
            return found

        numbers = self.ids.next_ids("time_entry", len(cmd.items)) if cmd.items else []
        entries: list[Entry] = []
        for index, (item, number) in enumerate(zip(cmd.items, numbers, strict=True)):
            try:
                if item.values.get("end_time") is None:
                    raise InvalidValueError("end_time", "Required: a batch records finished time.")
                if item.user_id != cmd.stamp.user_id:
                    cached(users, item.user_id, self._check_user_exists)
                project = cached(projects, item.values["project_id"], self.project_reference)
                task_id = item.values.get("task_id")
                task = None if task_id is None else cached(tasks, task_id, self._task_reference)
                entries.append(
                    Entry.create(
                        number,
                        item.user_id,
                        project,
                        task,
                        item.values,
                        cmd.source,
                        cmd.stamp,
                        external_key=item.external_key,
                    )
                )
            except InvalidValueError as exc:
                errors.setdefault(f"{cmd.field_prefix}[{index}].{exc.field}", []).append(
                    exc.message
                )
            except ProjectIsArchivedError as exc:
                errors.setdefault(f"{cmd.field_prefix}[{index}].project_id", []).append(str(exc))
            except NotYourEntryError:
                errors.setdefault(f"{cmd.field_prefix}[{index}].user_id", []).append(
                    "Only admins may record time for other users."
                )
        if errors:
            raise ItemsInvalidError(errors)
        # New aggregates under fresh ids: nothing to conflict with, so no retry loop.
        recordings = self.save(*entries) if entries else []
        position = recordings[-1].notification.id if recordings else None
        return WrittenEntries(entries=entries, position=position)

    def edit_entry(self, cmd: EditEntry) -> Written:
        """Change an entry; giving a running entry an end stops the user's timer."""
        versions: list[int] = []
        saved: list[Entry] = []
        values = cmd.values

        def decide() -> list[Aggregate]:
            entry = self.load_entry(cmd.entry_id, cmd.stamp)
            saved.append(entry)
            check_version(entry, cmd.expected_version)
            project_id = values.get("project_id", entry.project_id)
            project = self.project_reference(project_id)
            task_id = values.get(
                "task_id", entry.task_id if project_id == entry.project_id else None
            )
            task: Task | None
            if task_id is not None and task_id == entry.task_id and project_id == entry.project_id:
                # The entry keeps its task, which may have been deleted since (entries stay).
                task = self.load(Task, "task", task_id)
            else:
                task = self._task_reference(task_id)
            was_running = entry.is_running
            entry.edit(values, project, task, cmd.stamp)
            versions.append(entry.version)
            if was_running and not entry.is_running:
                timer = self._timer(entry.user_id, cmd.stamp)
                timer.stop(cmd.stamp)
                return [entry, timer]
            return [entry]

        position = self.write(decide)
        return Written(id=cmd.entry_id, version=versions[-1], position=position, saved=saved[-1])

    def delete_entry(self, cmd: DeleteEntry) -> Written:
        """Delete an entry (a running one stops the timer); its history stays."""
        versions: list[int] = []

        def decide() -> list[Aggregate]:
            entry = self.load_entry(cmd.entry_id, cmd.stamp)
            check_version(entry, cmd.expected_version)
            was_running = entry.is_running
            entry.delete(cmd.stamp)
            versions.append(entry.version)
            if not was_running:
                return [entry]
            timer = self._timer(entry.user_id, cmd.stamp)
            timer.stop(cmd.stamp)
            return [entry, timer]

        position = self.write(decide)
        return Written(id=cmd.entry_id, version=versions[-1], position=position)

    def restore_entry(self, cmd: RestoreEntry) -> Written:
        """Bring back a deleted entry; one without an end starts the user's timer again."""
        versions: list[int] = []

        def decide() -> list[Aggregate]:
            entry = self.load(Entry, "time_entry", cmd.entry_id)
            try:
                entry.check_access(cmd.stamp)
            except NotYourEntryError:
                raise NotFoundError("time_entry", cmd.entry_id) from None
            except EntryDeletedError:
                pass  # the one state a restore wants
            check_version(entry, cmd.expected_version)
            entry.restore(self.load(Project, "project", entry.project_id), cmd.stamp)
            versions.append(entry.version)
            if not entry.is_running:
                return [entry]
            timer = self._timer(entry.user_id, cmd.stamp)
            timer.start(entry.number, cmd.stamp)
            return [entry, timer]

        position = self.write(decide)
        return Written(id=cmd.entry_id, version=versions[-1], position=position)

    def revert_entry(self, cmd: RevertEntry) -> Written:
        """Give an entry the fields it had at an earlier version: an ordinary edit."""
        entry = self.load_entry(cmd.entry_id, cmd.stamp)
        if not 1 <= cmd.version <= entry.version:
            raise InvalidValueError("version", f"Must be between 1 and {entry.version}.")
        past: Entry = self.repository.get(entry.id, version=cmd.version)
        if past.deleted:
            raise InvalidValueError("version", f"At version {cmd.version} the entry was deleted.")
        values = {name: getattr(past, name) for name in ENTRY_FIELDS}
        return self.edit_entry(EditEntry(cmd.entry_id, values, cmd.stamp, cmd.expected_version))

    def start_timer(self, cmd: CreateEntry) -> Written:
        """Start a timer now: a running entry from the caller's time of request."""
        values = {key: value for key, value in cmd.values.items() if key != "end_time"}
        values["start_time"] = cmd.stamp.at
        return self.create_entry(
            CreateEntry(user_id=cmd.user_id, values=values, stamp=cmd.stamp, source="timer")
        )

    def stop_timer(self, cmd: StopTimer) -> Written:
        """Stop the user's running timer; the entry gets its end and duration."""
        versions: list[int] = []
        stopped: list[int] = []
        saved: list[Entry] = []

        def decide() -> list[Aggregate]:
            timer = self.load_optional(Timer, timer_id(cmd.user_id))
            if timer is None:
                raise NoActiveTimerError("No timer is running.")
            entry_id = timer.stop(cmd.stamp)
            entry = self.load(Entry, "time_entry", entry_id)
            if cmd.stamp.at <= entry.start_time:
                # Asked for before this timer started (a start that raced ahead of it).
                raise NoActiveTimerError("No timer was running when the stop was asked for.")
            entry.stop(cmd.stamp)
            saved.append(entry)
            stopped.append(entry_id)
            versions.append(entry.version)
            return [timer, entry]

        position = self.write(decide)
        return Written(id=stopped[-1], version=versions[-1], position=position, saved=saved[-1])
