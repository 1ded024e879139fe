"""The resource kinds, declared once: everything that lists kinds derives from `KINDS`.

A kind is what the API, the change feed, history and the id sequences call a resource
(`time_entry`, `project`...). Each entry says, in one place:

- `name`: the kind as the feed and history name it, and the namespace of its aggregate ids
  (`values.aggregate_id(name, number)`);
- `aggregate`: the topic (`module:qualname`) of its aggregate class. A topic, not the class:
  `scopes.py` derives the token scopes from this module and the aggregates import `scopes.py`,
  so importing the aggregates here would be a cycle. Stored topics never change, so the
  string is as stable as the class; `tests/unit/domain/test_kinds.py` resolves each one;
- `numbered`: whether it has an id sequence of its own (`commands/ids.py` creates it, a
  restore moves it past the restored ids); a timer is numbered by its user;
- `scope`: the `read:`/`write:` scope pair tokens may hold for it (`read:time_entries`), if any;
- `feed_scope` and `own_only`: who sees its events in the change feed (`read:audit` kinds
  only an admin auditor; `own_only` kinds a normal user sees for themself only);
- `collection`: its collection under `/api/v1` (`time-entries`), whose
  `/{collection}/{id}/history` shows every version, if it has one.

Adding a kind is one entry here (plus its aggregate, commands and handlers): see the README,
"Adding a resource kind".
"""

from __future__ import annotations

from dataclasses import dataclass

AUDIT_SCOPE = "read:audit"


@dataclass(frozen=True)
class ResourceKind:
    """One kind of resource and every property that other modules list per kind."""

    name: str
    aggregate: str
    numbered: bool
    feed_scope: str
    scope: str | None = None
    own_only: bool = False
    collection: str | None = None

    @property
    def read_scope(self) -> str | None:
        """The scope that reads it through its own endpoints (`read:projects`), if any."""
        return None if self.scope is None else f"read:{self.scope}"

    @property
    def write_scope(self) -> str | None:
        """The scope that writes it through its own endpoints (`write:projects`), if any."""
        return None if self.scope is None else f"write:{self.scope}"


# In this order in the change feed's `resource` enum (the OpenAPI document) and the CLI's help.
KINDS: tuple[ResourceKind, ...] = (
    ResourceKind(
        "time_entry",
        "timetracker.domain.entry:Entry",
        numbered=True,
        scope="time_entries",
        feed_scope="read:time_entries",
        own_only=True,
        collection="time-entries",
    ),
    ResourceKind(
        "project",
        "timetracker.domain.project:Project",
        numbered=True,
        scope="projects",
        feed_scope="read:projects",
        collection="projects",
    ),
    ResourceKind(
        "client",
        "timetracker.domain.client:Client",
        numbered=True,
        scope="clients",
        feed_scope="read:clients",
        collection="clients",
    ),
    ResourceKind(
        "task",
        "timetracker.domain.task:Task",
        numbered=True,
        scope="tasks",
        feed_scope="read:tasks",
        collection="tasks",
    ),
    ResourceKind(
        "timer",
        "timetracker.domain.timer:Timer",
        numbered=False,
        feed_scope="read:time_entries",
        own_only=True,
    ),
    ResourceKind("user", "timetracker.domain.user:User", numbered=True, feed_scope=AUDIT_SCOPE),
    ResourceKind(
        "api_token", "timetracker.domain.api_token:ApiToken", numbered=True, feed_scope=AUDIT_SCOPE
    ),
    ResourceKind(
        "webhook",
        "timetracker.domain.webhook:Webhook",
        numbered=True,
        scope="webhooks",
        feed_scope="read:webhooks",
        own_only=True,
        collection="webhooks",
    ),
)

BY_NAME: dict[str, ResourceKind] = {kind.name: kind for kind in KINDS}


def kind_named(name: str) -> ResourceKind:
    """The kind called `name` (KeyError for an unknown one)."""
    return BY_NAME[name]
