"""Per-token (and per-client-IP) rate limits: fixed windows with interpolation, in Redis.

Each window (say 100 requests a minute) keeps three numbers per subject: when its current
window started (anchored at the first request, then stepping by the window's length), how
many requests it admitted, and how many the window before admitted. A request is admitted
when the current count plus the previous window's count, weighted by the share of the
previous window still inside the last `seconds`, leaves room (rounded up, so the estimate
never lets a whole quota through twice across a boundary). That is constant memory per
subject (one short Redis string, all windows, a TTL), whatever the quota, instead of a sorted
set of every request of the hour.

One Lua script, under the Redis server's clock, reads, decides and counts for every window
of a subject at once, so rejected requests consume nothing and concurrent requests and
several server processes share one count. The checks go to Redis on a connection of the
limiter's own, pipelined (`script_pipeline.py`). A request waits (bounded) for its reply
and answers 503 after that: a slow reply is not an outage. Only when
Redis cannot be reached are the same windows kept in this process's memory, starting from
the last state Redis reported for each subject (fail open, limits per process).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import MaxConnectionsError, RedisError

from timetracker.http.errors import ApiError
from timetracker.projections.script_pipeline import REDIS_WAIT_SECONDS, PipelinedScript

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 1.0
LOCAL_SUBJECTS = 100_000  # subjects remembered for the fallback (least recently used go)

# KEYS[1]: the subject's string, every number in base 36: "now|<tag><window>|<tag><window>"
# with `now` (ms) the time of the last admitted request, which is every window's last
# request too, and each window "since-start.count.previous count.since-previous-last"
# counted back from `now` in ms; the tag is "m" for a minute window, "h" for an hour,
# "_<seconds>:" for another length. Counting back from one stamp keeps the longest string
# the default limits can store (counts under 1,296) at 44 characters: within Redis's
# smallest string encoding, one 64-byte allocation. Read too, as written before: a string
# of "<seconds>:start.count.last-start.previous count.start-previous last" parts, and a
# hash of one field per window (named by its length in decimal seconds) in both of its
# forms ("start.count.last-start.previous.start-previous last" in base 36, or the same
# decimal and colon-separated). ARGV[1]: 1 to admit (0 to only look); then quota and
# length in ms of each window. Returns: admitted flag, the server's time (ms), then for each
# window its five numbers after this request (absolute).
_WINDOWS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function b36(n)
  local s = ''
  repeat
    local d = n % 36
    s = string.sub(DIGITS, d + 1, d + 1) .. s
    n = (n - d) / 36
  until n == 0
  return s
end
local function tag(secs)
  if secs == 60 then return 'm' elseif secs == 3600 then return 'h' end
  return '_' .. b36(secs) .. ':'
end
local function absolute(s, c, l, p, pl, base)
  s = tonumber(s, base)
  return {s, tonumber(c, base), s + tonumber(l, base), tonumber(p, base), s - tonumber(pl, base)}
end
local n = (#ARGV - 1) / 2
local seconds = {}
for i = 1, n do seconds[i] = math.floor(tonumber(ARGV[1 + 2 * i]) / 1000) end
local known = {}
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'string' then
  local text = redis.call('GET', KEYS[1])
  local stamp = string.match(text, '^(%w+)|')
  if stamp then
    stamp = tonumber(stamp, 36)
    local by_tag = {}
    for part in string.gmatch(text, '|([^|]+)') do
      local t, rest = string.match(part, '^([mh])(.+)$')
      if not t then t, rest = string.match(part, '^(_%w+:)(.+)$') end
      if t then by_tag[t] = rest end
    end
    for i = 1, n do
      local a, c, p, d = string.match(by_tag[tag(seconds[i])] or '', '^(%w+)%.(%w+)%.(%w+)%.(%w+)$')
      if a then
        known[i] = {stamp - tonumber(a, 36), tonumber(c, 36), stamp, tonumber(p, 36),
          stamp - tonumber(d, 36)}
      end
    end
  else
    local by_length = {}
    for t, value in string.gmatch(text, '(%w+):([^|]+)') do by_length[t] = value end
    for i = 1, n do
      local s, c, l, p, pl = string.match(by_length[b36(seconds[i])] or '',
        '^(%w+)%.(%w+)%.(%w+)%.(%w+)%.(%w+)$')
      if s then known[i] = absolute(s, c, l, p, pl, 36) end
    end
  end
elseif kind == 'hash' then
  local values = redis.call('HMGET', KEYS[1], unpack(seconds))
  for i = 1, n do
    local value = values[i] or ''
    local s, c, l, p, pl = string.match(value, '^(%w+)%.(%w+)%.(%w+)%.(%w+)%.(%w+)$')
    if s then
      known[i] = absolute(s, c, l, p, pl, 36)
    else
      s, c, l, p, pl = string.match(value, '^(%d+):(%d+):(%d+):(%d+):(%d+)$')
      if s then known[i] = absolute(s, c, l, p, pl, 10) end
    end
  end
end
local admitted = ARGV[1] == '1'
local states = {}
for i = 1, n do
  local quota = tonumber(ARGV[2 * i])
  local len = tonumber(ARGV[1 + 2 * i])
  local st = known[i]
  if st == nil or now >= st[1] + 2 * len then
    st = {now, 0, now, 0, now}
  elseif now >= st[1] + len then
    st = {st[1] + len, 0, st[1] + len, st[2], st[3]}
  end
  local share = math.max(0, st[5] + len - now)
  if st[2] + math.ceil(st[4] * share / len) >= quota then admitted = false end
  states[i] = st
end
local result = {admitted and 1 or 0, now}
local expires = 0
local parts = {b36(now)}
for i = 1, n do
  local len = tonumber(ARGV[1 + 2 * i])
  local st = states[i]
  if admitted then
    st[2] = st[2] + 1
    st[3] = now
    parts[i + 1] = tag(seconds[i]) .. b36(now - st[1]) .. '.' .. b36(st[2]) .. '.'
      .. b36(st[4]) .. '.' .. b36(now - st[5])
    expires = math.max(expires, st[1] + 2 * len - now)
  end
  for j = 1, 5 do result[#result + 1] = st[j] end
end
if admitted then redis.call('SET', KEYS[1], table.concat(parts, '|'), 'PX', expires) end
return result
"""


@dataclass(frozen=True)
class Window:
    """A quota over a window: `quota` requests per `seconds`."""

    name: str
    quota: int
    seconds: int

    @property
    def length_ms(self) -> int:
        """The window's length in milliseconds."""
        return self.seconds * 1000


@dataclass(frozen=True)
class Counts:
    """One window's numbers for one subject (times in epoch ms): when the current window
    started, how many it admitted and when the last of them came; the same two of the
    window before."""

    start: int
    count: int
    last: int
    previous: int
    previous_last: int

    @classmethod
    def fresh(cls, now_ms: int) -> Counts:
        """A window starting now, nothing counted."""
        return cls(now_ms, 0, now_ms, 0, now_ms)

    def advanced(self, now_ms: int, window: Window) -> Counts:
        """The same window at `now_ms`: rolled over once, or started afresh, as time moved."""
        length = window.length_ms
        if now_ms >= self.start + 2 * length:
            return Counts.fresh(now_ms)
        if now_ms >= self.start + length:
            begin = self.start + length
            return Counts(begin, 0, begin, self.count, self.last)
        return self

    def used(self, now_ms: int, window: Window) -> int:
        """Requests counted against the window at `now_ms`: this window's, and the share
        of the previous window's still inside the last `seconds` (taken as spread evenly
        over the `seconds` before its last request; rounded up)."""
        length = window.length_ms
        share = max(0, self.previous_last + length - now_ms)
        return self.count + math.ceil(self.previous * share / length)


@dataclass(frozen=True)
class WindowState:
    """One window after a request: how many remain and when the next slot frees."""

    window: Window
    remaining: int
    reset_at: float  # epoch seconds: the window's end, or when the next request fits if full


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


def window_state(window: Window, counts: Counts, now_ms: int) -> WindowState:
    """What a window's counts mean for the headers at `now_ms`."""
    quota, length = window.quota, window.length_ms
    remaining = max(quota - counts.used(now_ms, window), 0)
    if remaining > 0:
        reset_ms = counts.start + length
    elif counts.count < quota:
        # Full only through the previous window's share: the next slot frees as it shrinks.
        free = (quota - counts.count - 1) * length // counts.previous
        reset_ms = counts.previous_last + length - free
    else:
        # Full by itself: once it has rolled over, its own count is the share that shrinks.
        free = (quota - 1) * length // counts.count
        reset_ms = max(counts.start + length, counts.last + length - free)
    return WindowState(window, remaining, reset_ms / 1000)


def decide(
    counts: list[Counts | None], windows: list[Window], now_ms: int, admit: bool
) -> tuple[bool, list[Counts]]:
    """The script's decision in Python: whether to admit, and each window's counts after."""
    advanced = [
        (c or Counts.fresh(now_ms)).advanced(now_ms, w)
        for c, w in zip(counts, windows, strict=True)
    ]
    admitted = admit and all(
        c.used(now_ms, w) < w.quota for c, w in zip(advanced, windows, strict=True)
    )
    if admitted:
        advanced = [
            Counts(c.start, c.count + 1, now_ms, c.previous, c.previous_last) for c in advanced
        ]
    return admitted, advanced


class LocalWindows:
    """The same windows in process memory: the fallback while Redis cannot be reached.

    It starts from what Redis last reported for each subject (`remember`), so an outage
    never hands out a fresh quota to a subject this process saw exhausted.
    """

    def __init__(self, capacity: int = LOCAL_SUBJECTS) -> None:
        self.capacity = capacity
        self._counts: OrderedDict[str, list[Counts | None]] = OrderedDict()

    def remember(self, subject: str, counts: list[Counts]) -> None:
        """Keep the latest counts of a subject (the least recently seen go past capacity)."""
        self._counts[subject] = list(counts)
        self._counts.move_to_end(subject)
        while len(self._counts) > self.capacity:
            self._counts.popitem(last=False)

    def hit(self, subject: str, windows: list[Window], admit: bool) -> Decision:
        """Decide locally, exactly as the script would."""
        now_ms = int(time.time() * 1000)
        known = self._counts.get(subject)
        if known is None or len(known) != len(windows):
            known = [None] * len(windows)
        admitted, counts = decide(known, windows, now_ms, admit)
        self.remember(subject, counts)
        states = tuple(window_state(w, c, now_ms) for w, c in zip(windows, counts, strict=True))
        return Decision(admitted, now_ms / 1000, states)


def limiter_busy() -> ApiError:
    """503 for a request whose limits could not be checked in time (Redis slow to answer)."""
    return ApiError(
        503,
        "Service unavailable",
        "The service is busy; retry shortly.",
        "service_unavailable",
        headers={"Retry-After": "1"},
    )


class RateLimiter:
    """Checks and counts requests against windows, in Redis or, failing that, locally."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.local = LocalWindows()
        # Every check on one connection of its own, without waiting for the checks before.
        self._script = PipelinedScript(redis, _WINDOWS)
        self._redis_down_until = 0.0
        self._warned = False

    async def close(self) -> None:
        """Close the limiter's own Redis connection."""
        await self._script.close()

    def _key(self, subject: str) -> str:
        # One hash per subject (every window in it) keeps it in one Redis Cluster slot.
        return f"{self.prefix}rl:{{{subject}}}"

    async def hit(self, subject: str, windows: list[Window], admit: bool = True) -> Decision:
        """Admit a request for `subject` if every window has room (count it if so).

        With `admit=False` nothing is counted: the windows are only read. Raises a 503
        ApiError when Redis does not answer in time.
        """
        if time.monotonic() >= self._redis_down_until:
            try:
                return await self._hit_redis(subject, windows, admit)
            except MaxConnectionsError:
                raise limiter_busy() from None
            except (RedisError, OSError) as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
                if not self._warned:
                    log.warning("Redis unreachable (%s): rate limits kept per process", exc)
                    self._warned = True
        return self.local.hit(subject, windows, admit)

    async def _hit_redis(self, subject: str, windows: list[Window], admit: bool) -> Decision:
        args: list[str | int] = [1 if admit else 0]
        for window in windows:
            args += [window.quota, window.length_ms]
        try:
            # Waits (a connection, then the reply) at most REDIS_WAIT_SECONDS, then 503.
            result = await self._script.run([self._key(subject)], args, REDIS_WAIT_SECONDS)
        except TimeoutError:
            raise MaxConnectionsError("no reply from Redis in time for the rate limiter") from None
        if self._warned:
            log.warning("Redis is back: rate limits shared again")
            self._warned = False
        admitted, now_ms = bool(result[0]), int(result[1])
        counts = [
            Counts(*(int(v) for v in result[2 + 5 * i : 7 + 5 * i])) for i in range(len(windows))
        ]
        self.local.remember(subject, counts)
        states = tuple(window_state(w, c, now_ms) for w, c in zip(windows, counts, strict=True))
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
