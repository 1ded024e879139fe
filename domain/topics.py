"""The topic of every event class the domain defines: all a stored event may ever name.

A topic (module and qualified name) tells the library which class to import when it reads
an event back. Anything from outside (an archive being restored) is checked against this
allowlist before a topic of it is resolved.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

_PACKAGE = __name__.rpartition(".")[0]


def _event_classes(aggregate: type[Aggregate]) -> set[type]:
    found: set[type] = set()
    for name in dir(aggregate):
        value = getattr(aggregate, name)
        if (
            isinstance(value, type)
            and issubclass(value, Aggregate.Event)
            and value.__module__.startswith(_PACKAGE)
        ):
            found.add(value)
    return found


@cache
def event_topics() -> frozenset[str]:
    """The topics of the event classes of every aggregate in the domain package."""
    package = importlib.import_module(_PACKAGE)
    topics: set[str] = set()
    for module_info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{_PACKAGE}.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Aggregate)
                and value.__module__ == module.__name__
            ):
                topics.update(get_topic(event) for event in _event_classes(value))
    return frozenset(topics)
