"""Per-workspace locks: in process and as a Redis lease (against Valkey)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from drive.errors import LockTimeoutError
from drive.locks import LocalLocks, RedisLocks
from drive.ports import WorkspaceLocks
from tests.cluster.services import Valkey


@pytest.fixture
async def redis(drive_valkey: Valkey) -> AsyncIterator[Redis]:
    client = Redis.from_url(drive_valkey.url, socket_timeout=5)
    yield client
    await client.aclose()


@pytest.fixture(params=["local", "redis"])
async def locks(request: pytest.FixtureRequest, redis: Redis) -> WorkspaceLocks:
    if request.param == "local":
        return LocalLocks(timeout_s=0.5)
    return RedisLocks(redis, prefix=f"test:{id(request)}:", timeout_s=0.5)


async def test_one_holder_per_workspace(locks: WorkspaceLocks) -> None:
    inside = 0
    most = 0

    async def work() -> None:
        nonlocal inside, most
        async with locks.hold("ws"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)  # yield inside the critical section
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(work() for _ in range(10)))
    assert most == 1


async def test_workspaces_do_not_block_each_other(locks: WorkspaceLocks) -> None:
    async with locks.hold("ws-a"), locks.hold("ws-b"):
        pass


async def test_waiting_too_long_is_a_lock_timeout(locks: WorkspaceLocks) -> None:
    async with locks.hold("ws"):
        with pytest.raises(LockTimeoutError):
            async with locks.hold("ws"):
                pass
    async with locks.hold("ws"):  # released after the failure, usable again
        pass


async def test_two_redis_lockers_share_the_lease(redis: Redis) -> None:
    """Two pods: separate RedisLocks objects on one Redis."""
    pod_a = RedisLocks(redis, prefix="test:pods:", timeout_s=0.3)
    pod_b = RedisLocks(redis, prefix="test:pods:", timeout_s=0.3)
    async with pod_a.hold("ws"):
        with pytest.raises(LockTimeoutError):
            async with pod_b.hold("ws"):
                pass
    async with pod_b.hold("ws"):
        pass


async def test_a_dead_holder_frees_the_lease_after_its_ttl(redis: Redis) -> None:
    await redis.set("test:dead:ws", "someone-who-crashed", px=300)
    locks = RedisLocks(redis, prefix="test:dead:", timeout_s=3.0)
    async with locks.hold("ws"):
        assert await redis.get("test:dead:ws") != b"someone-who-crashed"


async def test_an_unreachable_redis_is_a_lock_error() -> None:
    from tests.server_proc import free_port

    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    try:
        with pytest.raises(LockTimeoutError, match="unreachable"):
            async with RedisLocks(dead, timeout_s=0.5).hold("ws"):
                pass
    finally:
        await dead.aclose()
