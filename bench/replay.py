"""Every read model replayed from scratch (what a restore does after loading the events):
in one process against on every core, alternately, on the same log.

Seeds `--events` events (as `bench/backup_restore.py` does) into a scratch database (dropped
at the end unless `--keep`; `--database-url` replays an existing one instead), then runs
`replay_all` `--rounds` times each way, one after the other: "one process" with the
partitioned path turned off (`REBUILD_PARTITION_MIN_EVENTS` above the log's length), "every
core" with it on (a process per core for the partitionable read models beside the rest;
the service takes that path only from `REPLAY_MIN_CORES` cores, the benchmark whatever the
cores).

    python -m bench.replay --events 1000000 --rounds 2 [--ways one|every|both]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import psycopg
from psycopg import sql

from bench.backup_restore import _database, drop_keys, seed
from timetracker.commands.application import TimeTracking
from timetracker.http.settings import Settings
from timetracker.projections.engine import replay
from timetracker.projections.engine.partitions import PARTITION_MIN_EVENTS_ENV, partition_count
from timetracker.projections.engine.replay import replay_all


def _replay(store: TimeTracking, url: str, redis_url: str, prefix: str, split: bool) -> float:
    os.environ[PARTITION_MIN_EVENTS_ENV] = "1" if split else str(2**62)
    replay.REPLAY_MIN_CORES = 1  # the shares whatever the cores (the service needs three)
    began = time.perf_counter()
    replay_all(store, url, redis_url, prefix)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url", help="replay this database's log instead of seeding")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--ways", choices=("one", "every", "both"), default="both", help="which replays to run"
    )
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"tt-bench-{uuid.uuid4().hex[:8]}:"
    name = None
    try:
        url = args.database_url
        if url is None:
            name, url = _database(admin_url, "replay")
        store = TimeTracking(Settings(database_url=url).event_store_env())
        if args.database_url is None:
            seed(store, url, args.events)
        head = store.recorder.max_notification_id() or 0
        cores = os.cpu_count() or 1
        print(f"\n{head:,} events; {cores} cores; database {name or url}")
        for round_ in range(1, args.rounds + 1):
            for split in {"one": (False,), "every": (True,), "both": (False, True)}[args.ways]:
                seconds = _replay(store, url, redis_url, prefix, split)
                label = f"every core ({partition_count(head)} shares)" if split else "one process"
                print(
                    f"round {round_}: {label:24} {seconds:6.1f} s ({head / seconds:,.0f} events/s)",
                    flush=True,
                )
        store.close()
    finally:
        drop_keys(redis_url, prefix)
        if name is not None and not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


if __name__ == "__main__":
    main()
