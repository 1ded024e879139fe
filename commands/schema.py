"""Every table the service keeps, and which layer owns (creates) it: the one place to look.

- `timetracking_events`, `timetracking_snapshots`: the event store (`eventsourcing`,
  `store.py`), when the store opens;
- the `timetracker_<kind>_id_seq` sequences: `ids.py`, one per numbered kind
  (`domain/kinds.py`), when the store opens;
- `timetracker_maintenance` and the events' write guard: `maintenance.py`, when the store
  opens;
- `idempotency_keys`, `token_usage`: this module, when the store opens;
- the read models' tables and `projection_tracking`: each read model's
  `create_statements`, run by `projections/engine/runner.py::create_schema` when the app
  starts and by a rebuild;
- `projection_rebuild_jobs`: `projections/engine/jobs.py`, when the app starts;
- `backup_jobs` (backups, restores and imports): `backups/jobs.py`, when the app starts.
- `webhook_dispatch`, `webhook_subscriptions`, `webhook_deliveries`: the webhook
  dispatcher's position, its subscriptions (with their secrets) and every delivery:
  `webhooks/store.py`, when the dispatcher or the app starts (the app through the
  dispatcher's store, `DeliveriesView.create_tables`) and after a restore.

The two tables created here are written through the write side's store connection or by
the HTTP layer, which never runs DDL:

- `idempotency_keys`: each POST's claim of its `Idempotency-Key` and its first response
  (`http/idempotency.py` claims and stores; the write's own transaction marks the claim
  applied, `key_claims.py`).
- `token_usage`: when each API token was last used (`http/token_usage.py`). Operational
  metadata, not a domain fact, so it lives beside the read models, not in the event log.
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresDatastore

SERVICE_TABLES_LOCK_KEY = 7_410_102  # advisory lock: one process at a time creates them

SERVICE_TABLES = (
    """
    CREATE TABLE IF NOT EXISTS idempotency_keys (
        user_id integer NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        status integer,
        headers jsonb,
        body bytea,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, key)
    )
    """,
    # Added after the first release: older databases get the columns here.
    "ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS claim uuid,"
    " ADD COLUMN IF NOT EXISTS applied boolean NOT NULL DEFAULT false",
    """
    CREATE TABLE IF NOT EXISTS token_usage (
        token_id integer PRIMARY KEY,
        last_used_at timestamptz NOT NULL
    )
    """,
)


def create_service_tables(datastore: PostgresDatastore) -> None:
    """Create `idempotency_keys` and `token_usage` if they are missing."""
    with datastore.transaction(commit=True) as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SERVICE_TABLES_LOCK_KEY,))
        for statement in SERVICE_TABLES:
            cursor.execute(statement)
