"""Token scopes and what each grants."""

from __future__ import annotations

from timetracker.domain.kinds import KINDS

# The resources with a read:/write: scope pair, from the registry of kinds.
RESOURCES = tuple(kind.scope for kind in KINDS if kind.scope is not None)
KNOWN_SCOPES = frozenset(
    [scope for kind in KINDS for scope in (kind.read_scope, kind.write_scope) if scope]
    + ["read:reports", "read:users", "read:audit", "admin:all", "read:*", "write:*"]
)


ANY_TOKEN = "*"  # required by endpoints open to every valid token, whatever its scopes


def grants(held: list[str] | tuple[str, ...] | frozenset[str], required: str) -> bool:
    """Whether scopes `held` allow `required`: exact, `read:*`/`write:*`, or `admin:all`."""
    if required == ANY_TOKEN or "admin:all" in held or required in held:
        return True
    action = required.split(":", 1)[0]
    return action in ("read", "write") and f"{action}:*" in held and required != "read:audit"
