"""Redis memory per active token: the sliding log the limiter kept before against its
interpolated fixed windows (`http/rate_limit.py`).

Starts a redis-server of its own on a free port (nothing else writes there), and for each
limiter records requests for N tokens through that limiter's own script (100/minute and
1,000/hour, as the defaults), then prints the growth of `used_memory` per token. The
sliding log grows with every request of the hour; the windows do not.

    python bench/rate_limit_memory.py --tokens 100000
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import redis

from timetracker.http.rate_limit import _WINDOWS

# The script of the sliding-log limiter this replaced (commit 5e2df0d), verbatim.
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

MINUTE_MS, HOUR_MS = 60_000, 3_600_000
BATCH = 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def _sliding(client: redis.Redis, tokens: int, requests: int) -> int:
    script = client.register_script(_SLIDING_WINDOWS)
    before = _used(client)
    for start in range(0, tokens, BATCH):
        for _ in range(requests):
            pipe = client.pipeline(transaction=False)
            for token in range(start, min(start + BATCH, tokens)):
                keys = [f"tt:rl:{{token:{token}}}:minute", f"tt:rl:{{token:{token}}}:hour"]
                args = [uuid.uuid4().hex, 1, 10**9, MINUTE_MS, 10**9, HOUR_MS]
                script(keys=keys, args=args, client=pipe)
            pipe.execute()
    return _used(client) - before


def _windows(client: redis.Redis, tokens: int, requests: int) -> int:
    script = client.register_script(_WINDOWS)
    before = _used(client)
    for start in range(0, tokens, BATCH):
        for _ in range(requests):
            pipe = client.pipeline(transaction=False)
            for token in range(start, min(start + BATCH, tokens)):
                args = [1, 100, MINUTE_MS, 1000, HOUR_MS]
                script(keys=[f"tt:rl:{{token:{token}}}"], args=args, client=pipe)
            pipe.execute()
    return _used(client) - before


def main(tokens: int, requests: tuple[int, ...]) -> None:
    binary = shutil.which("redis-server")
    assert binary, "needs redis-server"
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder],
            stdout=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            print(f"{tokens:,} tokens; bytes of Redis memory per token (used_memory growth)")
            for n in requests:
                for name, record in (("sliding log", _sliding), ("fixed windows", _windows)):
                    client.flushall()
                    grown = record(client, tokens, n)
                    print(f"  {name:14} {n:4} requests each: {grown / tokens:8.0f} B/token")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--requests", type=int, nargs="+", default=[1, 10])
    options = parser.parse_args()
    main(options.tokens, tuple(options.requests))
