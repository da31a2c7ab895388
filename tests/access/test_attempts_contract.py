"""Sign-in attempt counters: in memory (embedded) and in Redis (cluster, real Valkey)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from server.access.ratelimit import AttemptCounter, MemoryAttempts, RedisAttempts
from tests.cluster.services import Valkey, running


@pytest.fixture(scope="module")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valkey]:
    with running(Valkey(tmp_path_factory.mktemp("valkey-attempts"))) as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
async def attempts(
    request: pytest.FixtureRequest, valkey_server: Valkey
) -> AsyncIterator[AttemptCounter]:
    if request.param == "memory":
        yield MemoryAttempts(window_s=60)
        return
    redis = Redis.from_url(valkey_server.url)
    await redis.flushdb()
    try:
        yield RedisAttempts(redis, window_s=60)
    finally:
        await redis.aclose()


async def test_counts_per_key_and_resets(attempts: AttemptCounter) -> None:
    assert await attempts.count("user:a") == 0
    assert [await attempts.add("user:a") for _ in range(3)] == [1, 2, 3]
    assert await attempts.add("user:b") == 1
    assert await attempts.count("user:a") == 3
    await attempts.reset("user:a")
    assert await attempts.count("user:a") == 0
    assert await attempts.count("user:b") == 1


async def test_redis_window_expires(valkey_server: Valkey) -> None:
    redis = Redis.from_url(valkey_server.url)
    try:
        counter = RedisAttempts(redis, window_s=60)
        await counter.add("user:ttl")
        ttl = await redis.ttl("tandem:attempts:user:ttl")
        assert 0 < ttl <= 60
        await counter.add("user:ttl")  # a later attempt does not extend the window
        assert await redis.ttl("tandem:attempts:user:ttl") <= ttl
    finally:
        await redis.aclose()


async def test_memory_window_expires() -> None:
    counter = MemoryAttempts(window_s=0.0)
    await counter.add("k")
    assert await counter.count("k") == 0
