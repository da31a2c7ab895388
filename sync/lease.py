"""A per-name lease in Redis: one holder at a time, renewed while working, released only by
its holder, and expiring by itself when the holder dies."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class LeaseLostError(Exception):
    """The lease expired or was taken while the holder still worked."""


class Lease:
    def __init__(self, redis: Redis, key: str, ttl_ms: int = 30_000) -> None:
        self._redis = redis
        self._key = key
        self._ttl_ms = ttl_ms
        self._token = uuid.uuid4().hex
        self.lost = False

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Yields False (and holds nothing) when someone else has the lease."""
        if not await self._redis.set(self._key, self._token, nx=True, px=self._ttl_ms):
            yield False
            return
        renewer = asyncio.get_running_loop().create_task(self._renew())
        try:
            yield True
        finally:
            renewer.cancel()
            # wait() does not raise the renewer's cancellation, but still raises our own:
            # suppressing CancelledError around `await renewer` would swallow the caller's.
            await asyncio.wait([renewer])
            with contextlib.suppress(RedisError):  # it expires by itself if Redis is away
                await self._redis.eval(_RELEASE, 1, self._key, self._token)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                renewed = await self._redis.eval(_RENEW, 1, self._key, self._token, self._ttl_ms)
            except RedisError:
                continue
            if not renewed:
                self.lost = True
                return

    def check(self) -> None:
        if self.lost:
            raise LeaseLostError(self._key)
