"""The key layout of a Redis read model, shared by its runner (writing) and its view (reading).

Each build of a Redis read model (a generation) keeps its keys under a prefix of its own,
`<prefix><name>:g<n>:`, with its log position beside them; `<prefix>live:<name>` names the
generation readers use (`engine/redis_runner.py` explains when it is set).
"""

from __future__ import annotations

from typing import Any


def live_key(prefix: str, name: str) -> str:
    """The key naming the generation of a Redis read model that readers use."""
    return f"{prefix}live:{name}"


def generations_stem(prefix: str, name: str) -> str:
    """What every generation's key prefix starts with, up to its number (for a script that
    reads the live number and the keys in one round trip)."""
    return f"{prefix}{name}:g"


def generation_prefix(prefix: str, name: str, generation: int) -> str:
    """The prefix of every key of one generation of a Redis read model."""
    return f"{generations_stem(prefix, name)}{generation}:"


def tracking_key(prefix: str, name: str, generation: int) -> str:
    """The key holding a generation's log position."""
    return f"{generation_prefix(prefix, name, generation)}position"


def answered_key(prefix: str) -> str:
    """The highest log position of a write any serving process has answered
    (`engine/freshness.py::Freshness.answering`)."""
    return f"{prefix}answered"


def positions_channel(prefix: str) -> str:
    """The channel live runners PUBLISH each batch's `name:position` on."""
    return f"{prefix}positions"


class ReadModelUnavailableError(RuntimeError):
    """A Redis read model is being rebuilt (after Redis lost its data): answer 503."""


async def live_prefix(client: Any, prefix: str, name: str) -> str:
    """The key prefix of the live generation (redis.asyncio client); 503 if there is none."""
    value = await client.get(live_key(prefix, name))
    if value is None:
        raise ReadModelUnavailableError(f"The {name} read model is being rebuilt.")
    return generation_prefix(prefix, name, int(value))
