"""Per-token rate limits: interpolated fixed windows in Redis, their headers, and the IP bucket."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable

import pytest
import redis
from aiohttp.test_utils import TestClient

from tests.api.conftest import ApiUser
from tests.api.helpers import error_body
from tests.conftest import REDIS_URL
from timetracker.http.keys import read_pool_key, settings_key, time_tracking_key
from timetracker.ops.accounts import issue_token, register_user
from timetracker.projections.engine.tracking import wait_for

ApiWith = Callable[..., Awaitable[TestClient]]
RATE_LIMIT = re.compile(r'^"minute";r=(\d+);t=(\d+), "hour";r=(\d+);t=(\d+)$')


async def _user(api: TestClient, username: str, scopes: list[str]) -> ApiUser:
    store = api.app[time_tracking_key]
    loop = asyncio.get_running_loop()
    user_id = await loop.run_in_executor(None, register_user, store, username, None, None, True)
    issued = await loop.run_in_executor(None, issue_token, store, username, scopes, "t", None)
    assert await wait_for(api.app[read_pool_key], ["accounts"], issued.position, 5.0)
    return ApiUser(user_id, username, issued.token)


async def test_150_concurrent_requests_get_exactly_100_through(api_with: ApiWith) -> None:
    api = await api_with(rate_limit_per_minute=100, rate_limit_per_hour=1000)
    user = await _user(api, "busy", ["read:*"])
    responses = await asyncio.gather(
        *[api.get("/api/v1/projects", headers=user.headers) for _ in range(150)]
    )
    statuses = [r.status for r in responses]
    assert statuses.count(200) == 100
    assert statuses.count(429) == 50
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses]
    assert min(remaining) == 0
    assert sorted(
        int(r.headers["X-RateLimit-Remaining"]) for r in responses if r.status == 200
    ) == list(range(100))
    for response in responses:
        if response.status == 429:
            body = await error_body(response, 429, "rate_limited")
            assert body["error"] == "Too many requests"
            retry = int(response.headers["Retry-After"])
            reset = int(response.headers["X-RateLimit-Reset"])
            assert 1 <= retry <= 60
            assert time.time() + retry >= reset - 1


async def test_rejected_requests_use_no_quota_and_every_key_expires(api_with: ApiWith) -> None:
    api = await api_with(rate_limit_per_minute=3, rate_limit_per_hour=10)
    user = await _user(api, "capped", ["read:*"])
    statuses = [(await api.get("/api/v1/projects", headers=user.headers)).status for _ in range(6)]
    assert statuses == [200, 200, 200, 429, 429, 429]
    prefix = api.app[settings_key].redis_prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = sorted(client.scan_iter(match=f"{prefix}rl:*"))
    assert len(keys) == 1  # one short string per token, every window in it
    counts = {length: numbers[1] for length, numbers in stored_windows(client, keys[0]).items()}
    assert counts == {60: 3, 3600: 3}  # the three 429s were not counted
    assert 0 < client.pttl(keys[0]) <= 2 * 3_600_000
    assert client.object("encoding", keys[0]) == b"embstr"  # Redis's smallest string form
    client.close()


def stored_windows(client: redis.Redis, key: bytes) -> dict[int, list[int]]:
    """A subject's windows as the limiter stores them: length in s -> its five numbers
    (start, count, last - start, previous count, start - previous last)."""
    stamp, *parts = client.get(key).decode().split("|")
    now = int(stamp, 36)  # the last admitted request: every window's last one
    windows = {}
    for part in parts:
        length = {"m": 60, "h": 3600}.get(part[0]) or int(part[1 : part.index(":")], 36)
        since_start, count, previous, since_previous = (
            int(n, 36) for n in part.lstrip("mh_").split(":")[-1].split(".")
        )
        start = now - since_start
        windows[length] = [start, count, since_start, previous, since_previous - since_start]
    return windows


async def test_the_longest_state_of_the_default_limits_stays_in_the_smallest_string(
    api_with: ApiWith,
) -> None:
    api = await api_with(rate_limit_per_minute=100, rate_limit_per_hour=1000)
    user = await _user(api, "busy", ["read:*"])
    assert (await api.get("/api/v1/projects", headers=user.headers)).status == 200
    client = redis.Redis.from_url(REDIS_URL)
    (key,) = client.scan_iter(match=f"{api.app[settings_key].redis_prefix}rl:*")
    now_ms = stored_windows(client, key)[60][0]
    # Every number at its widest: each window nearly over and one short of its quota, the
    # window before it full, its last request as far back as it can be.
    since = [59_000, 3_599_000]
    widest = [
        f"{_b36(s)}.{_b36(q - 2)}.{_b36(q - 1)}.{_b36(2 * s)}"
        for s, q in zip(since, [100, 1000], strict=True)
    ]
    client.set(key, f"{_b36(now_ms)}|m{widest[0]}|h{widest[1]}", px=60_000)
    answer = await api.get("/api/v1/projects", headers=user.headers)
    assert answer.status == 200 and answer.headers["X-RateLimit-Remaining"] == "1"
    windows = stored_windows(client, key)
    assert windows[60][1] == 99 and windows[3600][1] == 999 and windows[3600][3] == 999
    assert client.strlen(key) <= 44
    assert client.object("encoding", key) == b"embstr"  # one 64-byte allocation
    client.close()


def _as_hash(client: redis.Redis, key: bytes, window: str) -> None:
    client.delete(key)
    client.hset(key, mapping={"60": window, "3600": window})


def _as_first_string(client: redis.Redis, key: bytes, window: str) -> None:
    client.set(key, f"1o:{window}|2s0:{window}", px=600_000)


@pytest.mark.parametrize(
    ("form", "store"),
    [
        # the first form: a hash of decimal, colon-separated numbers
        (lambda now_ms: f"{now_ms}:5:10:0:0", _as_hash),
        # then a hash of base-36, dot-separated ones
        (lambda now_ms: f"{_b36(now_ms)}.5.a.0.0", _as_hash),
        # then a string of the same, each window tagged with its length in seconds
        (lambda now_ms: f"{_b36(now_ms)}.5.a.0.0", _as_first_string),
    ],
    ids=["decimal hash", "base-36 hash", "string of absolute times"],
)
async def test_windows_written_before_are_read_on(
    api_with: ApiWith,
    form: Callable[[int], str],
    store: Callable[[redis.Redis, bytes, str], None],
) -> None:
    api = await api_with(rate_limit_per_minute=5, rate_limit_per_hour=50)
    user = await _user(api, "upgraded", ["read:*"])
    assert (await api.get("/api/v1/projects", headers=user.headers)).status == 200
    client = redis.Redis.from_url(REDIS_URL)
    (key,) = client.scan_iter(match=f"{api.app[settings_key].redis_prefix}rl:*")
    now_ms = stored_windows(client, key)[60][0]
    # In an earlier form: the minute full (5 of 5), 5 of the hour used.
    store(client, key, form(now_ms))
    before = client.dump(key)
    blocked = await api.get("/api/v1/projects", headers=user.headers)
    await error_body(blocked, 429, "rate_limited")
    assert blocked.headers["X-RateLimit-Remaining"] == "0"
    assert client.dump(key) == before  # a 429 writes nothing
    store(client, key, form(now_ms - 61_000))
    assert (await api.get("/api/v1/projects", headers=user.headers)).status == 200
    windows = stored_windows(client, key)  # the next admitted request stores today's form
    assert windows[60][1] == 1 and windows[3600][1] == 6
    client.close()


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if not number:
            return text


async def test_the_hour_window_limits_too_and_is_reported_when_tighter(
    api_with: ApiWith,
) -> None:
    api = await api_with(rate_limit_per_minute=10, rate_limit_per_hour=4)
    user = await _user(api, "hourly", ["read:*"])
    responses = [await api.get("/api/v1/projects", headers=user.headers) for _ in range(5)]
    assert [r.status for r in responses] == [200, 200, 200, 200, 429]
    last_ok = responses[3]
    assert last_ok.headers["X-RateLimit-Limit"] == "4"
    assert last_ok.headers["X-RateLimit-Remaining"] == "0"
    assert int(last_ok.headers["X-RateLimit-Reset"]) - time.time() > 3000
    assert int(responses[4].headers["Retry-After"]) > 3000


async def test_headers_follow_the_ietf_draft_syntax_on_2xx_and_4xx(api_with: ApiWith) -> None:
    api = await api_with(rate_limit_per_minute=100, rate_limit_per_hour=1000)
    user = await _user(api, "reader", ["read:projects"])
    ok = await api.get("/api/v1/projects", headers=user.headers)
    missing = await api.get("/api/v1/projects/999", headers=user.headers)
    forbidden = await api.get("/api/v1/clients", headers=user.headers)
    invalid = await api.get("/api/v1/projects?page=0", headers=user.headers)
    for response, status, remaining in (
        (ok, 200, 99),
        (missing, 404, 98),
        (forbidden, 403, 97),
        (invalid, 400, 96),
    ):
        assert response.status == status
        headers = response.headers
        assert headers["RateLimit-Policy"] == '"minute";q=100;w=60, "hour";q=1000;w=3600'
        match = RATE_LIMIT.match(headers["RateLimit"])
        assert match, headers["RateLimit"]
        assert int(match.group(1)) == remaining
        assert int(match.group(3)) == remaining + 900
        assert 0 < int(match.group(2)) <= 60
        assert headers["X-RateLimit-Limit"] == "100"
        assert headers["X-RateLimit-Remaining"] == str(remaining)
        assert abs(int(headers["X-RateLimit-Reset"]) - (time.time() + 60)) <= 2


async def test_the_rate_limit_endpoint_reports_both_windows_without_counting(
    api_with: ApiWith,
) -> None:
    api = await api_with(rate_limit_per_minute=5, rate_limit_per_hour=50)
    user = await _user(api, "curious", ["read:projects"])
    await api.get("/api/v1/projects", headers=user.headers)
    first = await (await api.get("/api/v1/rate-limit", headers=user.headers)).json()
    second = await (await api.get("/api/v1/rate-limit", headers=user.headers)).json()
    assert first == second
    minute, hour = first["rate_limit"]["minute"], first["rate_limit"]["hour"]
    assert (minute["limit"], minute["remaining"], minute["window_seconds"]) == (5, 4, 60)
    assert (hour["limit"], hour["remaining"], hour["window_seconds"]) == (50, 49, 3600)
    assert abs(minute["reset"] - (time.time() + 60)) <= 2


async def test_guessing_tokens_spends_the_client_ip_bucket_not_the_victims_quota(
    api_with: ApiWith,
) -> None:
    api = await api_with(rate_limit_per_minute=5, rate_limit_per_hour=100)
    victim = await _user(api, "victim", ["read:*"])
    guesses = [
        await api.get("/api/v1/projects", headers={"Authorization": f"Bearer tt_{n:032d}"})
        for n in range(7)
    ]
    assert [r.status for r in guesses] == [401] * 5 + [429] * 2
    assert "X-RateLimit-Remaining" not in guesses[0].headers
    info = await api.get("/api/v1/info")
    assert info.status == 429  # open endpoints share the IP bucket
    quota = await (await api.get("/api/v1/rate-limit", headers=victim.headers)).json()
    assert quota["rate_limit"]["minute"]["remaining"] == 5


async def test_without_limits_configured_no_headers_are_sent(
    api: TestClient, admin: ApiUser
) -> None:
    response = await api.get("/api/v1/projects", headers=admin.headers)
    assert response.status == 200
    assert "X-RateLimit-Limit" not in response.headers
    assert (await (await api.get("/api/v1/rate-limit", headers=admin.headers)).json()) == {
        "rate_limit": {}
    }
