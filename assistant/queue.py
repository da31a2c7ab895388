"""The request queue between pods and workers.

Embedded: an in-process asyncio queue feeding the in-process worker pool. Cluster: a Redis
stream (``tandem:assistant:jobs``) with one consumer group; each ``tandem assistant`` worker
is a consumer. A worker acknowledges (XACK + XDEL) when the suggestion reached a final state;
while it works it re-claims its entry now and then, so only a dead worker's entries grow idle
and are taken over by another worker (XAUTOCLAIM), which starts the suggestion over."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .types import Job

log = logging.getLogger(__name__)

STREAM = "tandem:assistant:jobs"
GROUP = "workers"


class QueueFullError(Exception):
    """Too many requests are waiting; try again later."""


@dataclass
class Delivery:
    job: Any
    """A ``Job`` (a suggestion), or what the queue's ``decode`` makes (a thread's answer)."""
    ack: Callable[[], Awaitable[None]]
    heartbeat: Callable[[], Awaitable[None]]
    redelivered: bool = False
    """Whether an unacknowledged job comes back (Redis: to another worker after the idle
    time); an in-process queue forgets it."""


class JobQueue(Protocol):
    async def put(self, job: Any) -> None: ...

    def deliveries(self, consumer: str) -> AsyncIterator[Delivery]: ...

    async def depth(self) -> int: ...


async def _nothing() -> None:
    return None


class MemoryQueue:
    def __init__(self, max_waiting: int) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue(max_waiting)

    async def put(self, job: Any) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise QueueFullError(f"{self._queue.maxsize} requests are waiting") from None

    async def deliveries(self, consumer: str) -> AsyncIterator[Delivery]:
        while True:
            job = await self._queue.get()
            yield Delivery(job, _nothing, _nothing)

    async def depth(self) -> int:
        return self._queue.qsize()


class RedisQueue:
    def __init__(
        self,
        redis: Any,
        *,
        max_waiting: int = 10_000,
        reclaim_idle_s: float = 30.0,
        block_s: float = 1.0,
        stream: str = STREAM,
        decode: Callable[[bytes], Any] = Job.from_json,
    ) -> None:
        """``stream``, ``decode``: another kind of job on a stream of its own (jobs need
        ``to_json`` and an ``attempt`` field)."""
        self._redis = redis
        self._stream = stream
        self._decode = decode
        self._max = max_waiting
        self._reclaim_ms = int(reclaim_idle_s * 1000)
        self._block_ms = int(block_s * 1000)
        self._group_ready = False

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        from redis.exceptions import ResponseError

        try:
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def put(self, job: Any) -> None:
        await self._ensure_group()
        if await self._redis.xlen(self._stream) >= self._max:
            raise QueueFullError(f"{self._max} requests are waiting")
        await self._redis.xadd(self._stream, {"job": job.to_json()})

    async def depth(self) -> int:
        await self._ensure_group()
        return int(await self._redis.xlen(self._stream))

    def _delivery(
        self, entry_id: bytes, fields: dict[bytes, bytes], consumer: str, attempt: int
    ) -> Delivery:
        job = self._decode(fields[b"job"])
        if attempt > 1:
            job = replace(job, attempt=job.attempt + attempt - 1)

        async def ack() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xack(self._stream, GROUP, entry_id)
                pipe.xdel(self._stream, entry_id)
                await pipe.execute()

        async def heartbeat() -> None:
            # Claiming our own entry resets its idle time: nobody reclaims a live worker's job.
            await self._redis.xclaim(self._stream, GROUP, consumer, 0, [entry_id], justid=True)

        return Delivery(job, ack, heartbeat, redelivered=True)

    async def deliveries(self, consumer: str) -> AsyncIterator[Delivery]:
        await self._ensure_group()
        while True:
            claimed = await self._redis.xautoclaim(
                self._stream, GROUP, consumer, self._reclaim_ms, start_id="0-0", count=1
            )
            entries = claimed[1] if claimed else []
            for entry_id, fields in entries:
                if fields:  # an entry deleted meanwhile comes back empty
                    log.warning("reclaimed assistant job %s from a silent worker", entry_id)
                    yield self._delivery(entry_id, fields, consumer, attempt=2)
            if entries:
                continue
            read = await self._redis.xreadgroup(
                GROUP, consumer, {self._stream: ">"}, count=1, block=self._block_ms
            )
            for _stream, rows in read or []:
                for entry_id, fields in rows:
                    yield self._delivery(entry_id, fields, consumer, attempt=1)


@contextlib.asynccontextmanager
async def heartbeating(delivery: Delivery, every_s: float) -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await delivery.heartbeat()
            except Exception:
                log.warning("assistant job heartbeat failed", exc_info=True)

    task = asyncio.get_running_loop().create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
