"""A Redis script called over a connection of its own, many calls in flight, against the
real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tests.conftest import REDIS_URL
from timetracker.projections.script_pipeline import PipelinedScript

WAIT = 5.0  # seconds a call may wait for its reply

# Counts a call on its key; refuses ARGV[1] == 'bad'. The comment makes the script (and its
# SHA) this test run's own, so Redis has never seen it: the first calls find it unknown.
_COUNT = """
-- {tag}
if ARGV[1] == 'bad' then return redis.error_reply('refused') end
return {{redis.call('INCR', KEYS[1]), ARGV[1]}}
"""


@pytest.fixture
async def client(redis_prefix: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(REDIS_URL)
    yield redis
    await redis.aclose()


@pytest.fixture
async def script(client: Redis) -> AsyncIterator[PipelinedScript]:
    pipelined = PipelinedScript(client, _COUNT.format(tag=uuid.uuid4().hex))
    yield pipelined
    await pipelined.close()


async def test_concurrent_calls_share_one_connection_and_each_gets_its_own_reply(
    client: Redis, redis_prefix: str
) -> None:
    name = f"pipelined-{uuid.uuid4().hex[:8]}"
    own = Redis.from_url(REDIS_URL, client_name=name)
    script = PipelinedScript(own, _COUNT.format(tag=uuid.uuid4().hex))
    keys = [f"{redis_prefix}batch:{uuid.uuid4().hex}:{n}" for n in range(50)]
    replies = await asyncio.gather(
        *(script.run([key], [str(n)], WAIT) for n, key in enumerate(keys))
    )
    assert replies == [[1, str(n).encode()] for n in range(50)]
    # Run once each, although the first calls found the script unknown to Redis.
    assert [int(v) for v in await client.mget(keys)] == [1] * 50
    # Every call, and the script's loading, went over one connection: through the
    # client's pool, 50 concurrent calls open 50.
    connections = [c for c in await client.client_list() if c["name"] == name]
    assert len(connections) == 1
    await script.close()
    await own.aclose()


async def test_an_error_reaches_only_its_caller(script: PipelinedScript, redis_prefix: str) -> None:
    key = f"{redis_prefix}batch:{uuid.uuid4().hex}"
    replies = await asyncio.gather(
        script.run([key], ["a"], WAIT),
        script.run([key], ["bad"], WAIT),
        script.run([key], ["c"], WAIT),
        return_exceptions=True,
    )
    assert replies[0] == [1, b"a"] and replies[2] == [2, b"c"]
    assert isinstance(replies[1], ResponseError) and "refused" in str(replies[1])


async def test_a_caller_that_stopped_waiting_does_not_take_anothers_reply(
    client: Redis, script: PipelinedScript, redis_prefix: str
) -> None:
    given_up, kept = (f"{redis_prefix}batch:{uuid.uuid4().hex}:{n}" for n in range(2))
    assert await script.run([given_up], ["warm"], WAIT) == [1, b"warm"]
    first = asyncio.ensure_future(script.run([given_up], ["x"], WAIT))
    await asyncio.sleep(0)  # sent
    first.cancel()  # as a timeout does: its reply comes all the same, and is dropped
    assert await script.run([kept], ["y"], WAIT) == [1, b"y"]
    assert int(await client.get(given_up)) == 2


async def test_a_lost_connection_fails_its_calls_and_the_next_call_opens_another(
    client: Redis, redis_prefix: str
) -> None:
    name = f"pipelined-{uuid.uuid4().hex[:8]}"
    own = Redis.from_url(REDIS_URL, client_name=name)
    script = PipelinedScript(own, _COUNT.format(tag=uuid.uuid4().hex))
    key = f"{redis_prefix}batch:{uuid.uuid4().hex}"
    assert await script.run([key], ["1"], WAIT) == [1, b"1"]
    (pipelined,) = [
        c for c in await client.client_list() if c["name"] == name and c["cmd"] == "evalsha"
    ]
    await client.client_kill_filter(_id=pipelined["id"])
    failures = []
    for _ in range(3):  # a call sent before the loss is seen fails; then a new connection
        try:
            reply = await script.run([key], ["2"], WAIT)
            break
        except RedisConnectionError as exc:
            failures.append(exc)
    assert reply == [2, b"2"] and len(failures) <= 1  # a failed call was not run
    await script.close()
    await own.aclose()
    unreachable = PipelinedScript(Redis.from_url("redis://127.0.0.1:1/0"), _COUNT)
    with pytest.raises(RedisConnectionError):
        await unreachable.run([key], ["3"], WAIT)
    await unreachable.redis.aclose()


async def test_a_call_not_answered_in_time_closes_the_connection(
    client: Redis, script: PipelinedScript, redis_prefix: str
) -> None:
    key = f"{redis_prefix}batch:{uuid.uuid4().hex}"
    assert await script.run([key], ["1"], WAIT) == [1, b"1"]
    await client.execute_command("CLIENT", "PAUSE", "1000", "ALL")  # Redis stops answering
    patient = asyncio.ensure_future(script.run([key], ["2"], WAIT))
    await asyncio.sleep(0)  # sent
    with pytest.raises(TimeoutError):
        await script.run([key], ["3"], 0.2)
    # The connection was closed: the call in flight on it fails instead of waiting on.
    with pytest.raises(RedisConnectionError):
        await patient
    await asyncio.sleep(1.0)  # the pause is over
    reply = await script.run([key], ["4"], WAIT)  # on a new connection
    assert reply[1] == b"4"


async def test_a_script_takes_any_number_of_keys(client: Redis, redis_prefix: str) -> None:
    keys = [f"{redis_prefix}many:{n}" for n in range(3)]
    await client.set(keys[1], "one")
    script = PipelinedScript(client, "return {#KEYS, redis.call('MGET', unpack(KEYS))}")
    try:
        assert await script.run(keys, [], WAIT) == [3, [None, b"one", None]]
        assert await script.run(keys[1:2], [], WAIT) == [1, [b"one"]]
    finally:
        await script.close()
