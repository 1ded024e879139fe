"""Where the dispatcher stands: its position and lag, whether a process leads it, and the
subscriptions that are failing (deliveries being retried) or were disabled."""

from __future__ import annotations

from typing import Any

from timetracker.projections.engine.leadership import LEADER_LOCK_KEY
from timetracker.webhooks.store import SENDS

LEAD_NAME = "webhooks"

STATUS_QUERY = f"""
SELECT
    (SELECT position FROM webhook_dispatch WHERE name = 'dispatcher') AS position,
    EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
            AND classid = %(key)s::oid AND objid = hashtext(%(lead)s)::oid
            AND objsubid = 2) AS led,
    (SELECT count(*) FROM webhook_deliveries d JOIN webhook_subscriptions s
     ON s.id = d.webhook_id WHERE d.state = 'pending' AND {SENDS}) AS pending,
    (SELECT count(*) FROM webhook_subscriptions WHERE NOT active AND NOT deleted) AS disabled
"""
FAILING_QUERY = f"""
SELECT DISTINCT ON (d.webhook_id) d.webhook_id, d.attempts, d.last_status, d.last_error,
       d.first_attempt_at, d.next_attempt_at
FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.webhook_id
WHERE d.state = 'pending' AND d.attempts > 0 AND {SENDS}
ORDER BY d.webhook_id, d.id
LIMIT 100
"""


def status_json(
    head: int, summary: dict[str, Any], failing: list[dict[str, Any]]
) -> dict[str, Any]:
    """The dispatcher's standing, as `/health` and `projections status` show it."""
    position = int(summary["position"] or 0)
    return {
        "state": "running" if summary["led"] else "stopped",
        "position": position,
        "head": head,
        "lag_events": max(head - position, 0),
        "pending_deliveries": int(summary["pending"]),
        "disabled_subscriptions": int(summary["disabled"]),
        "failing_subscriptions": [
            {
                "webhook_id": row["webhook_id"],
                "attempts": row["attempts"],
                "last_status_code": row["last_status"],
                "last_error": row["last_error"],
                "failing_since": row["first_attempt_at"],
                "next_attempt_at": row["next_attempt_at"],
            }
            for row in failing
        ],
    }


async def dispatcher_status(pool: Any, head: int) -> dict[str, Any]:
    """The dispatcher's standing, read through an async pool of dict-row connections."""
    params = {"key": LEADER_LOCK_KEY, "lead": LEAD_NAME}
    async with pool.connection() as conn:
        summary = await (await conn.execute(STATUS_QUERY, params)).fetchone()
        failing = await (await conn.execute(FAILING_QUERY)).fetchall()
    return status_json(head, summary, list(failing))


def dispatcher_status_sync(conn: Any, head: int) -> dict[str, Any]:
    """The same, on a synchronous connection with dict rows."""
    params = {"key": LEADER_LOCK_KEY, "lead": LEAD_NAME}
    summary = conn.execute(STATUS_QUERY, params).fetchone()
    failing = conn.execute(FAILING_QUERY).fetchall()
    return status_json(head, summary, list(failing))
