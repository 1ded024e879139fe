"""The dispatcher: follows the event log and delivers what each subscription asked for.

It is a log follower, not a read model: one process leads it (a PostgreSQL advisory lock,
`projections/engine/leadership.py`, as the projection runners), the others stand by.
The leader

1. reads the log after its position, folds Webhook events into the subscriptions, and
   turns each other event into one pending delivery per subscription that wants its type
   and whose owner may read it, recording the new position, the subscriptions and the
   deliveries in one transaction (`store.commit_batch`): a restart goes on from there,
   nothing lost, nothing turned into deliveries twice;
2. sends the pending deliveries, concurrently across subscriptions and in order within
   each: a subscription's next delivery waits until the one before it is delivered or has
   failed for good. Each attempt is signed (Standard Webhooks) with the subscription's
   current secret and carries the delivery's stable `webhook-id`; a 2xx within the timeout
   is success, anything else is tried again later (`retry.py`). A delivery still failing a
   day after its first attempt is `failed`, and its subscription is disabled (an event,
   `WebhookDisabled`, with the reason).

Delivery is at least once: a leader that dies between a receiver's 2xx and recording it
sends that delivery again after the restart, with the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import aiohttp
import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from yarl import URL

from timetracker.commands.application import TimeTracking
from timetracker.commands.messages import DisableWebhook
from timetracker.domain.user import User
from timetracker.domain.values import Stamp
from timetracker.domain.webhook import Webhook
from timetracker.eventlog.reader import Actor, EventLog, Identity, Logged
from timetracker.projections.engine.leadership import Leadership
from timetracker.webhooks import signing
from timetracker.webhooks.event_types import may_receive, subscribed, webhook_types
from timetracker.webhooks.retry import gives_up, retry_delay
from timetracker.webhooks.ssrf import DELIVERY_TIMEOUT, AddressGuard, ForbiddenTargetError
from timetracker.webhooks.status import LEAD_NAME
from timetracker.webhooks.store import (
    RESPONSE_KEEP_BYTES,
    SENDS,
    NewDelivery,
    Subscription,
    commit_batch,
    create_tables,
    in_maintenance,
    load_subscriptions,
    message_id,
    read_positions,
)

log = logging.getLogger(__name__)


EVENTS_CHANNEL = "timetracking_events"  # the store NOTIFYs here on every append
DELIVERIES_CHANNEL = "webhook_deliveries"  # the API NOTIFYs here on a test, retry or replay
FETCH_PER_WORKER = 20  # deliveries a subscription's worker is handed at a time
AGGREGATE_CACHE_SIZE = 10_000

# The resource as the API shows it after the event: (log, event, its stream) -> `data`.
Render = Callable[[EventLog, Logged, Identity, Any], dict[str, Any]]


UNHEARD_POLL = 1.0  # seconds between looks for the API's news without a listener


@dataclass(frozen=True)
class DispatchSettings:
    """How the dispatcher works (the `WEBHOOKS_*` settings)."""

    retry_scale: float = 1.0
    max_connections: int = 200
    max_per_host: int = 50
    poll_seconds: float = 1.0
    batch_size: int = 500


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Cannot encode {type(value).__name__}")


def encode(body: dict[str, Any]) -> bytes:
    """A delivery body as JSON (times RFC 3339 in UTC with `Z`)."""
    return orjson.dumps(body, default=_default, option=orjson.OPT_UTC_Z)


def actor_json(actor: Actor) -> dict[str, Any]:
    """Who caused the event."""
    return {
        "user_id": actor.user_id,
        "username": actor.username,
        "token_prefix": actor.token_prefix,
    }


def delivery_body(
    event_type: str, logged: Logged, data: dict[str, Any], actor: Actor | None
) -> bytes:
    """`{"type", "timestamp", "data", "position", "actor"}`."""
    return encode(
        {
            "type": event_type,
            "timestamp": logged.at.astimezone(UTC),
            "data": data,
            "position": logged.position,
            "actor": None if actor is None else actor_json(actor),
        }
    )


@dataclass
class Prepared:
    """What one stretch of the log causes."""

    last: int
    subscriptions: dict[int, Subscription]
    changed: list[Subscription]
    deliveries: list[NewDelivery]


@dataclass
class Attempt:
    """The outcome of one attempt, to record."""

    delivery_id: int
    webhook_id: int
    status: int | None
    error: str | None
    response: str | None
    latency_ms: float
    at: datetime
    state: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    first_attempt_at: datetime | None = None
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# What can change the subscriptions: while none sends, the dispatcher decodes only these
# (decoding every event of a bulk write cost a fifth of the projection process's Python).
SUBSCRIPTION_KINDS = frozenset({"webhook", "user"})


class Deliverer:
    """Turns log events into deliveries: folds subscriptions, checks who may receive what,
    renders the bodies. Synchronous (it reads the event store); one batch at a time."""

    def __init__(self, log: EventLog, render: Render) -> None:
        self.log = log
        self.render = render
        self._aggregates: dict[UUID, Any] = {}  # recent streams' states, folded forward

    def prepare(
        self, after: int, limit: int, current: dict[int, Subscription], quiet_until: int = 0
    ) -> Prepared:
        """The subscriptions and deliveries the events after `after` cause (none for the
        events up to `quiet_until`: a restored history is followed, never sent)."""
        quiet = not any(s.sends for s in current.values())
        logged, last = self.log.read_all(after, limit, SUBSCRIPTION_KINDS if quiet else None)
        if quiet and any(item.type.kind == "webhook" for item in logged):
            logged, last = self.log.read_all(after, limit)  # one may start sending in the batch
        subs = {number: dataclasses.replace(s) for number, s in current.items()}
        by_stream = {Webhook.create_id(number): number for number in subs}
        changed: dict[int, Subscription] = {}
        deliveries: list[NewDelivery] = []
        identities = self.log.identities(
            item.event.originator_id for item in logged if item.type.kind != "webhook"
        )
        wanted: list[tuple[Logged, list[tuple[str, Subscription]]]] = []
        for item in logged:
            event = item.event
            if isinstance(event, Webhook.Created):
                subs[event.number] = Subscription.created(event)
                by_stream[event.originator_id] = event.number
                changed[event.number] = subs[event.number]
                continue
            if item.type.kind == "webhook":
                number = by_stream.get(event.originator_id)
                if number is not None:
                    subs[number].apply(event)
                    changed[number] = subs[number]
                continue
            if item.type.kind == "user":
                for s in subs.values():
                    if User.create_id(s.owner_id) == event.originator_id and s.follow_owner(event):
                        changed[s.id] = s
            identity = identities.get(event.originator_id)
            if identity is None or item.position <= quiet_until:
                continue
            targets = [
                (event_type, s)
                for event_type in webhook_types(item)
                for s in subs.values()
                if s.sends
                and subscribed(s.events, event_type)
                and may_receive(s.owner_id, s.owner_is_admin, identity)
            ]
            if targets:
                wanted.append((item, targets))
        actors = self.log.actors([item for item, _ in wanted])
        for item, targets in wanted:
            identity = identities[item.event.originator_id]
            data = self.render(self.log, item, identity, self._state_after(item))
            bodies: dict[str, bytes] = {}
            for event_type, s in targets:
                if event_type not in bodies:
                    bodies[event_type] = delivery_body(
                        event_type, item, data, actors.get(item.position)
                    )
                deliveries.append(NewDelivery(s.id, event_type, item.position, bodies[event_type]))
        return Prepared(last, subs, list(changed.values()), deliveries)

    def _state_after(self, item: Logged) -> Any:
        """The event's aggregate just after it: folded from the last one seen when that was
        the version before, read from the store otherwise."""
        stream = item.event.originator_id
        known = self._aggregates.get(stream)
        if known is not None and known.version == item.version - 1:
            state = item.event.mutate(known)
        else:
            state = self.log.state_at(stream, item.position)
        if len(self._aggregates) >= AGGREGATE_CACHE_SIZE:
            self._aggregates.clear()
        self._aggregates[stream] = state
        return state

    def replay(
        self, subscription: Subscription, after: int, upto: int, limit: int
    ) -> tuple[list[NewDelivery], int]:
        """Deliveries again for one subscription of the events after `after` (up to `upto`):
        what its current settings select, as the owner may read it. Returns them and the
        last position read."""
        logged, last = self.log.read_all(after, limit)
        logged = [item for item in logged if item.position <= upto]
        if last > upto:
            last = upto
        identities = self.log.identities(item.event.originator_id for item in logged)
        wanted: list[tuple[Logged, list[str]]] = []
        if not subscription.owner_active:
            return [], last
        for item in logged:
            identity = identities.get(item.event.originator_id)
            if identity is None or not may_receive(
                subscription.owner_id, subscription.owner_is_admin, identity
            ):
                continue
            types = [t for t in webhook_types(item) if subscribed(subscription.events, t)]
            if types:
                wanted.append((item, types))
        actors = self.log.actors([item for item, _ in wanted])
        deliveries = []
        for item, types in wanted:
            identity = identities[item.event.originator_id]
            state = self.log.state_at(item.event.originator_id, item.position)
            data = self.render(self.log, item, identity, state)
            for event_type in types:
                body = delivery_body(event_type, item, data, actors.get(item.position))
                deliveries.append(
                    NewDelivery(subscription.id, event_type, item.position, body, replay=True)
                )
        return deliveries, last


class Dispatcher:
    """The leading process's loop: follow the log, send what is due, record the outcomes."""

    def __init__(
        self,
        store: TimeTracking,
        conninfo: str,
        guard: AddressGuard,
        render: Render,
        settings: DispatchSettings | None = None,
        leadership: Leadership | None = None,
        listen: bool = True,
    ) -> None:
        self.store = store
        # Without a listening connection of its own (the projections process, where every
        # connection counts: README "Connection budget"), the projection service wakes it on
        # each batch (`wake`) and it looks for news from the API at least every second.
        self.listen = listen
        self._loop: asyncio.AbstractEventLoop | None = None
        # The projection service's, where there is one: its connection holds this lead too.
        self.leadership = leadership
        self.conninfo = conninfo
        self.guard = guard
        self.settings = settings or DispatchSettings()
        self.deliverer = Deliverer(EventLog(store), render)
        self.position = 0
        self.quiet_until = 0
        self.subscriptions: dict[int, Subscription] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhooks")
        self._wake = asyncio.Event()
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._results: list[Attempt] = []
        self._results_ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Lead (or stand by) and dispatch until `stop` is set."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        leadership = self.leadership or Leadership(self.conninfo)
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=2,  # its queries are short; every connection counts on a shared server
            kwargs={"autocommit": True},
            open=False,
        )
        await pool.open(wait=True, timeout=10)
        async with pool.connection() as conn:
            await create_tables(conn)
        listener = asyncio.create_task(self._listen(stop) if self.listen else stop.wait())
        writer = asyncio.create_task(self._write_results(pool))
        session = aiohttp.ClientSession(
            connector=self.guard.connector(
                self.settings.max_connections, self.settings.max_per_host
            ),
            timeout=DELIVERY_TIMEOUT,
            auto_decompress=False,
        )
        leading = False
        try:
            while not stop.is_set():
                if not await loop.run_in_executor(self._executor, leadership.lead, LEAD_NAME):
                    leading = False
                    await self._pause(stop, 1.0)
                    continue
                try:
                    async with pool.connection() as conn:
                        if await in_maintenance(conn):  # a restore is replacing the log
                            leading = False
                            await self._pause(stop, 1.0)
                            continue
                        if not leading:
                            await self._reload(conn)
                            leading = True
                    moved = await self._follow(pool)
                    wait = self.settings.poll_seconds
                    if self._workers or any(s.sends for s in self.subscriptions.values()):
                        # Otherwise nothing can be due: no query (a write wakes this loop).
                        wait = await self._schedule(pool, session)
                except (psycopg.Error, OSError) as exc:
                    log.warning("Webhook dispatcher: %s; trying again", exc)
                    leading = False
                    await self._pause(stop, 1.0)
                    continue
                if not moved:
                    await self._pause(stop, wait if self.listen else min(wait, UNHEARD_POLL))
        finally:
            for task in [*self._workers.values(), listener, writer]:
                task.cancel()
            for task in [*self._workers.values(), listener, writer]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await session.close()
            await pool.close()
            if self.leadership is None:
                await loop.run_in_executor(self._executor, leadership.close)
            self._executor.shutdown(wait=True)

    def wake(self, *_: object) -> None:
        """Look at the log now (from any thread): the log has moved on."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self._wake.set)

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        self._wake.clear()
        waits = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        await asyncio.wait(waits, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()

    async def _listen(self, stop: asyncio.Event) -> None:
        """Wake the loop on every append to the log and on news from the API."""
        while not stop.is_set():
            try:
                async with await AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    await conn.execute(f"LISTEN {DELIVERIES_CHANNEL}")
                    self._wake.set()
                    async for _ in conn.notifies():
                        self._wake.set()
            except (psycopg.Error, OSError):
                await asyncio.sleep(1.0)

    async def _follow(self, pool: AsyncConnectionPool[Any]) -> bool:
        """Turn the next stretch of the log into deliveries; True if the position moved."""
        loop = asyncio.get_running_loop()
        expected = self.position
        prepared = await loop.run_in_executor(
            self._executor,
            self.deliverer.prepare,
            expected,
            self.settings.batch_size,
            self.subscriptions,
            self.quiet_until,
        )
        if prepared.last == expected:
            return False
        async with pool.connection() as conn:
            committed = await commit_batch(
                conn, expected, prepared.last, prepared.changed, prepared.deliveries
            )
            if not committed:  # another process or a restore moved it: go on from there
                await self._reload(conn)
                return False
        self.position = prepared.last
        self.subscriptions = prepared.subscriptions
        return True

    async def _reload(self, conn: AsyncConnection[Any]) -> None:
        self.position, self.quiet_until = await read_positions(conn)
        self.subscriptions = await load_subscriptions(conn)

    async def _schedule(
        self, pool: AsyncConnectionPool[Any], session: aiohttp.ClientSession
    ) -> float:
        """Start a worker for each idle subscription whose next delivery is due, handing it
        its first pending deliveries (one query for every subscription, not one per worker);
        the seconds until the next delivery that is not due."""
        async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT * FROM (SELECT d.webhook_id, d.id, d.body, d.attempts,"
                " d.next_attempt_at, d.first_attempt_at, s.url, s.secret,"
                " row_number() OVER w AS n, first_value(d.next_attempt_at) OVER w AS head_due"
                " FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.webhook_id"
                f" WHERE d.state = 'pending' AND {SENDS} AND d.webhook_id <> ALL(%s)"
                " WINDOW w AS (PARTITION BY d.webhook_id ORDER BY d.id)) due"
                # A subscription not due yet: its first delivery only (when it will be).
                " WHERE n <= %s AND (n = 1 OR head_due <= now()) ORDER BY webhook_id, id",
                (list(self._workers), FETCH_PER_WORKER),
            )
            rows = await cur.fetchall()
        pending: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            pending.setdefault(row["webhook_id"], []).append(row)
        now = datetime.now(UTC)
        soonest = self.settings.poll_seconds
        for webhook_id, deliveries in pending.items():
            if webhook_id in self._workers:
                continue
            due = deliveries[0]["next_attempt_at"]
            if due <= now:
                task = asyncio.create_task(self._work(session, webhook_id, deliveries))
                self._workers[webhook_id] = task
            else:
                soonest = min(soonest, (due - now).total_seconds())
        return soonest

    async def _work(
        self,
        session: aiohttp.ClientSession,
        webhook_id: int,
        deliveries: list[dict[str, Any]],
    ) -> None:
        """Send one subscription's due deliveries in order; stop at the first failure (or
        one not due yet). When it ends, the loop looks for more."""
        try:
            for row in deliveries:
                if row["next_attempt_at"] > datetime.now(UTC):
                    return
                attempt = await self._attempt(session, webhook_id, row)
                self._results.append(attempt)
                self._results_ready.set()
                await attempt.done
                if attempt.state != "delivered":
                    return
        finally:
            self._workers.pop(webhook_id, None)
            self._wake.set()

    async def _attempt(
        self, session: aiohttp.ClientSession, webhook_id: int, row: dict[str, Any]
    ) -> Attempt:
        """POST one delivery, signed; the outcome and what comes next."""
        body = bytes(row["body"])
        sent_at = datetime.now(UTC)
        timestamp = int(sent_at.timestamp())
        headers = signing.headers(row["secret"], message_id(row["id"]), timestamp, body)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        response: str | None = None
        try:
            self.guard.check_literal(URL(row["url"]).host or "")
            async with session.post(
                row["url"], data=body, headers=headers, allow_redirects=False
            ) as answer:
                status = answer.status
                kept = await answer.content.read(RESPONSE_KEEP_BYTES)
                response = kept.decode(errors="replace")
        except ForbiddenTargetError as exc:
            error = f"Refused: {exc}"
        except aiohttp.ClientConnectorError as exc:
            error = (
                f"Refused: {exc.os_error}"
                if isinstance(exc.os_error, ForbiddenTargetError)
                else f"Could not connect: {exc}"
            )
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        attempt = Attempt(
            delivery_id=row["id"],
            webhook_id=webhook_id,
            status=status,
            error=error,
            response=response,
            latency_ms=(time.monotonic() - started) * 1000,
            at=sent_at,
            attempts=row["attempts"] + 1,
            first_attempt_at=row["first_attempt_at"] or sent_at,
        )
        failing_for = (sent_at - (row["first_attempt_at"] or sent_at)).total_seconds()
        if attempt.ok:
            attempt.state = "delivered"
        elif gives_up(failing_for, self.settings.retry_scale):
            attempt.state = "failed"
        else:
            delay = retry_delay(attempt.attempts, self.settings.retry_scale)
            attempt.next_attempt_at = sent_at + timedelta(seconds=delay)
        return attempt

    async def _write_results(self, pool: AsyncConnectionPool[Any]) -> None:
        """Record attempts' outcomes, many in one transaction; disable the subscriptions of
        deliveries that failed for good."""
        loop = asyncio.get_running_loop()
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            batch, self._results = self._results, []
            if not batch:
                continue
            try:
                async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                    await cur.executemany(
                        "UPDATE webhook_deliveries SET state = %s, attempts = %s,"
                        " last_status = %s, last_error = %s, last_response = %s,"
                        " latency_ms = %s, last_attempt_at = %s, first_attempt_at = %s,"
                        " next_attempt_at = coalesce(%s, next_attempt_at),"
                        " delivered_at = CASE WHEN %s = 'delivered' THEN %s END WHERE id = %s",
                        [
                            (
                                a.state,
                                a.attempts,
                                a.status,
                                a.error,
                                a.response,
                                a.latency_ms,
                                a.at,
                                a.first_attempt_at,
                                a.next_attempt_at,
                                a.state,
                                a.at,
                                a.delivery_id,
                            )
                            for a in batch
                        ],
                    )
            except (psycopg.Error, OSError) as exc:
                log.warning("Could not record webhook attempts: %s", exc)
            for attempt in batch:
                if not attempt.done.done():
                    attempt.done.set_result(None)
                if attempt.state == "failed":
                    reason = (
                        f"Deliveries failed for a day; the last attempt: "
                        f"{attempt.error or f'HTTP {attempt.status}'}"
                    )
                    command = DisableWebhook(
                        attempt.webhook_id,
                        reason,
                        Stamp(at=datetime.now(UTC), user_id=None, request_id="webhooks"),
                    )
                    await loop.run_in_executor(None, self.store.disable_webhook, command)


class DispatcherThread:
    """Runs a dispatcher in a thread with an event loop of its own (beside the projection
    runners, in a process that has no loop of its own)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._started.set()
            await self.dispatcher.run(self._stop)

        asyncio.run(main())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the dispatcher and wait for its thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
