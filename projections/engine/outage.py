"""Log a dependency's outage once, then a summary now and then, and once when it is back.

A runner retries a failed batch every second and a listener reconnects every second: with
a traceback on each failure, Redis down for 20 s printed about 2,200 lines. An `Outage` is
told of each failure and each success; it logs the first failure (with its reason), then
a summary of the failures since, after 10 s, 20 s, 40 s... (at most every 5 minutes), and
one line when the next success ends the outage. It also gives the delay before the next
retry, doubling from `first_delay` up to `max_delay`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from eventsourcing.persistence import OperationalError as StoreOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

FIRST_SUMMARY_SECONDS = 10.0
MAX_SUMMARY_SECONDS = 300.0


class Outage:
    """The state of one dependency as one caller sees it (thread-safe)."""

    def __init__(
        self,
        what: str,
        log: logging.Logger,
        first_delay: float = 1.0,
        max_delay: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.log = log
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.clock = clock
        self._lock = threading.Lock()
        self.failures = 0  # in the current outage
        self._started = 0.0
        self._unsummarised = 0
        self._next_summary = 0.0
        self._summary_every = FIRST_SUMMARY_SECONDS

    @property
    def ongoing(self) -> bool:
        """Whether the last attempt failed."""
        return self.failures > 0

    def failed(self, exc: BaseException, traceback: bool = False) -> float:
        """Count a failure (logging as described above); the delay before retrying."""
        with self._lock:
            now = self.clock()
            self.failures += 1
            if self.failures == 1:
                self._started = now
                self._unsummarised = 0
                self._summary_every = FIRST_SUMMARY_SECONDS
                self._next_summary = now + self._summary_every
                self.log.warning(
                    "%s failed: %s; retrying quietly", self.what, _reason(exc), exc_info=traceback
                )
            else:
                self._unsummarised += 1
                if now >= self._next_summary:
                    self.log.warning(
                        "%s still failing after %.0f s (%d failures since the last report): %s",
                        self.what,
                        now - self._started,
                        self._unsummarised,
                        _reason(exc),
                    )
                    self._unsummarised = 0
                    self._summary_every = min(self._summary_every * 2, MAX_SUMMARY_SECONDS)
                    self._next_summary = now + self._summary_every
            return float(min(self.first_delay * 2.0 ** (self.failures - 1), self.max_delay))

    def succeeded(self) -> None:
        """Count a success: ends an outage (logged once)."""
        if not self.failures:
            return
        with self._lock:
            if self.failures:
                self.log.warning(
                    "%s works again after %.0f s (%d failures)",
                    self.what,
                    self.clock() - self._started,
                    self.failures,
                )
                self.failures = 0


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_unavailability(exc: BaseException) -> bool:
    """A dependency could not be reached (its reason says it all) rather than a fault in
    this code (which deserves its traceback)."""
    return isinstance(
        exc,
        RedisConnectionError
        | RedisTimeoutError
        | psycopg.OperationalError
        | StoreOperationalError
        | ConnectionError
        | TimeoutError,
    )
