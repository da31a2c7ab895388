"""Per-workspace locks that serialize changes to one tree: an asyncio lock in one process, a
Redis lease across pods. Serializing moves is what keeps two pods from building a cycle
(A into B on one pod while B goes into A on another): each move checks the ancestors under
the lock, so the second one sees the first."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

from .errors import LockTimeoutError

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class LocalLocks:
    def __init__(self, timeout_s: float = 10.0) -> None:
        self._timeout_s = timeout_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, workspace_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(workspace_id, asyncio.Lock())
        self._users[workspace_id] = self._users.get(workspace_id, 0) + 1
        try:
            try:
                await asyncio.wait_for(lock.acquire(), self._timeout_s)
            except TimeoutError:
                raise LockTimeoutError("the workspace's tree is busy, try again") from None
            try:
                yield
            finally:
                lock.release()
        finally:
            # Forget locks nobody waits on, so memory follows active workspaces only.
            self._users[workspace_id] -= 1
            if not self._users[workspace_id]:
                del self._users[workspace_id]
                del self._locks[workspace_id]


class RedisLocks:
    """``SET NX PX`` with a random token, renewed while held, released only by its holder;
    a holder that dies frees it after ``ttl_ms``. Waiting retries with jittered backoff: Redis
    has no blocking wait for a key to disappear."""

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str = "tandem:drive:lock:",
        ttl_ms: int = 15_000,
        timeout_s: float = 10.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = ttl_ms
        self._timeout_s = timeout_s

    @contextlib.asynccontextmanager
    async def hold(self, workspace_id: str) -> AsyncIterator[None]:
        key = self._prefix + workspace_id
        token = uuid.uuid4().hex
        await self._acquire(key, token)
        renewer = asyncio.get_running_loop().create_task(self._renew(key, token))
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            with contextlib.suppress(Exception):  # it expires by itself if Redis is away
                await self._redis.eval(_RELEASE, 1, key, token)

    async def _acquire(self, key: str, token: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        delay = 0.005
        while not await self._try(key, token):
            if loop.time() >= deadline:
                raise LockTimeoutError("the workspace's tree is busy, try again")
            await asyncio.sleep(delay * (0.5 + random.random()))  # backoff, not a test wait
            delay = min(delay * 2, 0.1)

    async def _try(self, key: str, token: str) -> bool:
        try:
            return bool(await self._redis.set(key, token, nx=True, px=self._ttl_ms))
        except Exception as exc:  # any Redis failure: the tree cannot change now (503)
            raise LockTimeoutError(
                f"the lock service is unreachable ({type(exc).__name__})"
            ) from exc

    async def _renew(self, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            with contextlib.suppress(Exception):
                await self._redis.eval(_RENEW, 1, key, token, self._ttl_ms)
