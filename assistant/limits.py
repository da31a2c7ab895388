"""Admission limits at request time: a per-user rate (requests in any sliding minute) and a
per-workspace cap on suggestions streaming at once. In Redis in cluster mode (shared by every
pod and worker), in memory in the embedded default."""

from __future__ import annotations

import math
import time
from typing import Any, Protocol


class RateLimitedError(Exception):
    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, math.ceil(retry_after_s))


class Limiter(Protocol):
    async def admit(self, user_id: str, workspace_id: str, suggestion_id: str) -> None:
        """Raises RateLimitedError; on success the suggestion holds a stream slot."""
        ...

    async def release(self, workspace_id: str, suggestion_id: str) -> None: ...


class MemoryLimiter:
    def __init__(self, per_user_per_min: int, streams_per_workspace: int, stream_ttl_s: float):
        self._rate = per_user_per_min
        self._cap = streams_per_workspace
        self._ttl = stream_ttl_s
        self._recent: dict[str, list[float]] = {}
        self._streams: dict[str, dict[str, float]] = {}

    async def admit(self, user_id: str, workspace_id: str, suggestion_id: str) -> None:
        now = time.time()
        recent = [t for t in self._recent.get(user_id, []) if t > now - 60]
        self._recent[user_id] = recent
        if len(recent) >= self._rate:
            raise RateLimitedError(
                f"at most {self._rate} assistant requests a minute", recent[0] + 60 - now
            )
        streams = self._streams.setdefault(workspace_id, {})
        for sid in [s for s, expires in streams.items() if expires < now]:
            del streams[sid]
        if len(streams) >= self._cap:
            raise RateLimitedError(
                f"this workspace already has {self._cap} suggestions streaming", 2
            )
        recent.append(now)
        streams[suggestion_id] = now + self._ttl

    async def release(self, workspace_id: str, suggestion_id: str) -> None:
        self._streams.get(workspace_id, {}).pop(suggestion_id, None)


_ADMIT = """
local rate_key, streams_key = KEYS[1], KEYS[2]
local rate, cap, now, ttl, sid = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), ARGV[5]
redis.call('zremrangebyscore', rate_key, '-inf', now - 60)
if redis.call('zcard', rate_key) >= rate then
  local oldest = redis.call('zrange', rate_key, 0, 0, 'WITHSCORES')
  return {1, tostring(tonumber(oldest[2]) + 60 - now)}
end
redis.call('zremrangebyscore', streams_key, '-inf', now)
if redis.call('zcard', streams_key) >= cap then return {2, '2'} end
redis.call('zadd', rate_key, now, sid)
redis.call('expire', rate_key, 120)
redis.call('zadd', streams_key, now + ttl, sid)
redis.call('expire', streams_key, math.ceil(ttl) + 60)
return {0, '0'}
"""


class RedisLimiter:
    """One script, so checking and taking a slot is atomic across pods. A stream slot expires
    by itself after ``stream_ttl_s``: a worker that died cannot hold it forever."""

    def __init__(
        self, redis: Any, per_user_per_min: int, streams_per_workspace: int, stream_ttl_s: float
    ) -> None:
        self._redis = redis
        self._rate = per_user_per_min
        self._cap = streams_per_workspace
        self._ttl = stream_ttl_s

    async def admit(self, user_id: str, workspace_id: str, suggestion_id: str) -> None:
        now = time.time()
        verdict, wait = await self._redis.eval(
            _ADMIT,
            2,
            f"tandem:assistant:rate:{user_id}",
            f"tandem:assistant:streams:{workspace_id}",
            self._rate,
            self._cap,
            now,
            self._ttl,
            suggestion_id,
        )
        if int(verdict) == 1:
            raise RateLimitedError(f"at most {self._rate} assistant requests a minute", float(wait))
        if int(verdict) == 2:
            raise RateLimitedError(
                f"this workspace already has {self._cap} suggestions streaming", 2
            )

    async def release(self, workspace_id: str, suggestion_id: str) -> None:
        await self._redis.zrem(f"tandem:assistant:streams:{workspace_id}", suggestion_id)
