"""Counting attempts per key in fixed one-minute windows: in memory when embedded, in Redis in
cluster mode so every pod counts against the same budget."""

from __future__ import annotations

import time
from typing import Any, Protocol


class AttemptCounter(Protocol):
    async def count(self, key: str) -> int:
        """Attempts recorded for ``key`` in the current window."""
        ...

    async def add(self, key: str) -> int:
        """Records one attempt; returns the count including it."""
        ...

    async def reset(self, key: str) -> None: ...


class MemoryAttempts:
    def __init__(self, window_s: float = 60.0, max_keys: int = 100_000) -> None:
        self._window_s = window_s
        self._max_keys = max_keys
        self._counts: dict[str, tuple[float, int]] = {}

    def _current(self, key: str) -> tuple[float, int]:
        now = time.monotonic()
        started, count = self._counts.get(key, (now, 0))
        if now - started >= self._window_s:
            return now, 0
        return started, count

    async def count(self, key: str) -> int:
        return self._current(key)[1]

    async def add(self, key: str) -> int:
        if len(self._counts) >= self._max_keys:
            self._evict_expired()
        started, count = self._current(key)
        self._counts[key] = (started, count + 1)
        return count + 1

    async def reset(self, key: str) -> None:
        self._counts.pop(key, None)

    def _evict_expired(self) -> None:
        now = time.monotonic()
        for key in [k for k, (t, _) in self._counts.items() if now - t >= self._window_s]:
            del self._counts[key]
        if len(self._counts) >= self._max_keys:  # a flood of distinct keys: forget the oldest
            for key in sorted(self._counts, key=lambda k: self._counts[k][0])[
                : self._max_keys // 10
            ]:
                del self._counts[key]


class RedisAttempts:
    def __init__(self, redis: Any, window_s: int = 60, prefix: str = "tandem:attempts:") -> None:
        self._redis = redis
        self._window_s = window_s
        self._prefix = prefix

    async def count(self, key: str) -> int:
        value = await self._redis.get(self._prefix + key)
        return int(value or 0)

    async def add(self, key: str) -> int:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, self._window_s, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)
