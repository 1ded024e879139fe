"""Per-token (and per-client-IP) rate limits: exact sliding windows in Redis.

Each window is a sorted set of the request times admitted in the last `seconds`, under
the Redis server's clock. One Lua script drops expired entries from every window,
counts them, and admits the request (adding it to every window) only if all windows
have room, so rejected requests consume nothing, no burst across a boundary exceeds a
window's quota, and every key carries a TTL. When Redis is unreachable, the same
windows are kept in this process's memory until it is back (fail open, limits per process).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 1.0

# KEYS: one sorted set per window. ARGV[1]: a unique member for this request; ARGV[2]:
# 1 to admit (0 to only look); then quota and window length in ms for each key.
# Returns: admitted flag, then for each window its count and oldest admitted time (ms).
_SLIDING_WINDOWS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local counts = {}
local admitted = 1
for i = 1, #KEYS do
  local quota = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  counts[i] = redis.call('ZCARD', KEYS[i])
  if counts[i] >= quota then admitted = 0 end
end
if ARGV[2] == '0' then admitted = 0 end
local result = {admitted, now}
for i = 1, #KEYS do
  local window = tonumber(ARGV[2 + 2 * i])
  if admitted == 1 then
    redis.call('ZADD', KEYS[i], now, ARGV[1])
    counts[i] = counts[i] + 1
  end
  if counts[i] > 0 then redis.call('PEXPIRE', KEYS[i], window) end
  local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  result[#result + 1] = counts[i]
  result[#result + 1] = tonumber(oldest[2] or now)
end
return result
"""


@dataclass(frozen=True)
class Window:
    """A quota over a window: `quota` requests per `seconds`."""

    name: str
    quota: int
    seconds: int


@dataclass(frozen=True)
class WindowState:
    """One window after a request: how many remain and when the next slot frees."""

    window: Window
    remaining: int
    reset_at: float  # epoch seconds when the oldest counted request leaves the window


@dataclass(frozen=True)
class Decision:
    """Whether a request was admitted, and every window's state."""

    admitted: bool
    now: float
    windows: tuple[WindowState, ...]

    @property
    def tightest(self) -> WindowState:
        """The window with the fewest requests left (ties: the later reset)."""
        return min(self.windows, key=lambda w: (w.remaining, -w.reset_at))

    def retry_after(self) -> int:
        """Whole seconds until every full window has a free slot again."""
        full = [w.reset_at for w in self.windows if w.remaining <= 0]
        return max(1, math.ceil(max(full, default=self.now) - self.now))


def _state(window: Window, count: int, oldest_ms: float, now_ms: float) -> WindowState:
    reset_ms = (oldest_ms if count else now_ms) + window.seconds * 1000
    return WindowState(window, max(window.quota - count, 0), reset_ms / 1000)


class LocalWindows:
    """The same sliding windows in process memory: the fallback while Redis is away."""

    def __init__(self) -> None:
        self._admitted: dict[str, deque[float]] = {}

    def hit(self, keys: list[str], windows: list[Window], admit: bool) -> Decision:
        now = time.time() * 1000
        queues = [self._admitted.setdefault(key, deque()) for key in keys]
        for queue, window in zip(queues, windows, strict=True):
            while queue and queue[0] <= now - window.seconds * 1000:
                queue.popleft()
        admitted = admit and all(len(q) < w.quota for q, w in zip(queues, windows, strict=True))
        if admitted:
            for queue in queues:
                queue.append(now)
        states = tuple(
            _state(w, len(q), q[0] if q else now, now) for q, w in zip(queues, windows, strict=True)
        )
        for key, queue in zip(keys, queues, strict=True):
            if not queue:
                del self._admitted[key]
        return Decision(admitted, now / 1000, states)


class RateLimiter:
    """Checks and counts requests against windows, in Redis or, failing that, locally."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.local = LocalWindows()
        self._script = redis.register_script(_SLIDING_WINDOWS)
        self._redis_down_until = 0.0
        self._warned = False

    def _keys(self, subject: str, windows: list[Window]) -> list[str]:
        # One hash tag per subject keeps its windows in one Redis Cluster slot.
        return [f"{self.prefix}rl:{{{subject}}}:{w.name}" for w in windows]

    async def hit(self, subject: str, windows: list[Window], admit: bool = True) -> Decision:
        """Admit a request for `subject` if every window has room (count it if so).

        With `admit=False` nothing is counted: the windows are only read.
        """
        keys = self._keys(subject, windows)
        if time.monotonic() >= self._redis_down_until:
            try:
                return await self._hit_redis(keys, windows, admit)
            except (RedisError, OSError) as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
                if not self._warned:
                    log.warning("Redis unreachable (%s): rate limits kept per process", exc)
                    self._warned = True
        return self.local.hit(keys, windows, admit)

    async def _hit_redis(self, keys: list[str], windows: list[Window], admit: bool) -> Decision:
        args: list[str | int] = [uuid.uuid4().hex, 1 if admit else 0]
        for window in windows:
            args += [window.quota, window.seconds * 1000]
        result = await self._script(keys=keys, args=args)
        if self._warned:
            log.warning("Redis is back: rate limits shared again")
            self._warned = False
        admitted, now_ms = bool(result[0]), float(result[1])
        states = tuple(
            _state(window, int(result[2 + 2 * i]), float(result[3 + 2 * i]), now_ms)
            for i, window in enumerate(windows)
        )
        return Decision(admitted, now_ms / 1000, states)


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """`X-RateLimit-*` for the tightest window; the IETF draft's `RateLimit-Policy`, `RateLimit`."""
    tightest = decision.tightest
    policy = ", ".join(
        f'"{s.window.name}";q={s.window.quota};w={s.window.seconds}' for s in decision.windows
    )
    current = ", ".join(
        f'"{s.window.name}";r={s.remaining};t={max(0, math.ceil(s.reset_at - decision.now))}'
        for s in decision.windows
    )
    return {
        "X-RateLimit-Limit": str(tightest.window.quota),
        "X-RateLimit-Remaining": str(tightest.remaining),
        "X-RateLimit-Reset": str(math.ceil(tightest.reset_at)),
        "RateLimit-Policy": policy,
        "RateLimit": current,
    }
