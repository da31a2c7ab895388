"""One blocking XREAD per process for the streams of every document it holds open.

A blocking read per document would pin one Redis connection per open document per pod, and
Redis refuses clients past ``maxclients``. Here a single reader follows all of them; opening a
document wakes it through a small control stream of the pod's own, so a new document is
followed at once, not after the current block times out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncIterator
from typing import Self

from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import RedisError

from .cancellation import reraise_if_cancelled
from .store import LogEntry, LogGap
from .stream_log import TrimMark, id_order, row_from_redis, stream_key
from .types import DocId, LogId, Origin

log = logging.getLogger(__name__)

_WAKE = {b"w": b"1"}


class _Followed:
    """One document's tail: what it queued for its reader and what it needs to notice a gap.

    Trims remove a stream's oldest entries, and a read returns every entry after its position
    that exists when it runs, up to its count. So entries can only vanish unseen between a
    read's position and the first entry it returns, and since a trim adds its mark in the
    same transaction, the first read after a trim returns the mark too unless the count cut
    it short. A mark is therefore checked against the jumps of the reads since the last one
    that was not cut short: exact, and usually one jump to remember."""

    __slots__ = ("jumps", "queue")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[LogEntry | LogGap] = asyncio.Queue()
        self.jumps: list[tuple[tuple[int, int], tuple[int, int]]] = []

    def deliver(self, position: str, rows: list[LogEntry | TrimMark], *, cut_short: bool) -> None:
        """The rows one read returned after ``position``."""
        self.jumps.append((id_order(LogId(position)), id_order(rows[0].id)))
        for row in rows:
            if isinstance(row, LogEntry):
                self.queue.put_nowait(row)
            else:
                upto = id_order(row.upto)
                if any(before < upto < first for before, first in self.jumps):
                    # A pod stalled or slow to read lost entries to another pod's compaction.
                    self.queue.put_nowait(LogGap())
        if not cut_short:
            self.jumps.clear()


class StreamFollower:
    def __init__(
        self,
        redis: Redis,
        origin: Origin,
        *,
        block_ms: int = 1000,
        batch: int = 512,
        backoff_max_s: float = 5.0,
    ) -> None:
        self._redis = redis
        # The blocking read gets connections of its own: cancelling a pending XREAD can leave
        # its connection with a reply still in flight, which the next command would read.
        self._blocking = Redis(
            connection_pool=ConnectionPool(**redis.connection_pool.connection_kwargs)
        )
        self._control = f"tandem:pod:{origin}:wake"
        self._block_ms = block_ms
        self._batch = batch
        self._backoff_max_s = backoff_max_s
        self._last: dict[str, str] = {}
        self._followed: dict[str, _Followed] = {}
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            # redis-py may finish the pending blocking read before it honours the cancel.
            await asyncio.wait({self._reader}, timeout=self._block_ms / 1000 + 1)
        await self._blocking.aclose()
        with contextlib.suppress(RedisError):
            await self._redis.delete(self._control)

    async def tail(self, doc_id: DocId, after: LogId | None) -> AsyncIterator[LogEntry | LogGap]:
        """Entries of ``doc_id`` after ``after`` in log order, until the caller stops."""
        key = stream_key(doc_id)
        followed = _Followed()
        self._followed[key] = followed
        self._last[key] = after or "0-0"
        await self._wake()
        try:
            while True:
                yield await followed.queue.get()
        finally:
            self._followed.pop(key, None)
            self._last.pop(key, None)

    async def _wake(self) -> None:
        self._changed.set()
        with contextlib.suppress(RedisError):  # the reader also retries on its own
            await self._redis.xadd(self._control, _WAKE, maxlen=1, approximate=False)

    async def _read(self) -> None:
        backoff = 0.05
        control_last = "$"
        while True:
            if not self._last:
                self._changed.clear()
                await self._changed.wait()
            self._changed.clear()
            streams = {self._control: control_last, **self._last}
            try:
                reply = await self._blocking.xread(streams, count=self._batch, block=self._block_ms)
            except RedisError as exc:
                reraise_if_cancelled(exc)
                log.warning("following document logs lost Redis (%s); resuming", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)
                continue
            backoff = 0.05
            for raw_key, rows in reply or []:
                key = raw_key.decode()
                if key == self._control:
                    control_last = rows[-1][0].decode()
                    continue
                followed = self._followed.get(key)
                if followed is None:
                    continue  # closed while the read was in flight
                position = self._last[key]
                self._last[key] = rows[-1][0].decode()
                followed.deliver(
                    position,
                    [row_from_redis(i, fields) for i, fields in rows],
                    cut_short=len(rows) >= self._batch,
                )


class ShardedFollower:
    """Several followers, documents spread over them by id: each blocking read waits on fewer
    streams, and a burst on one document does not delay the others' next read."""

    def __init__(self, redis: Redis, origin: Origin, *, shards: int = 4) -> None:
        self._shards = [StreamFollower(redis, Origin(f"{origin}:{i}")) for i in range(shards)]

    async def __aenter__(self) -> Self:
        for shard in self._shards:
            await shard.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.gather(*(shard.__aexit__(*exc_info) for shard in self._shards))

    def tail(self, doc_id: DocId, after: LogId | None) -> AsyncIterator[LogEntry | LogGap]:
        shard = self._shards[zlib.crc32(doc_id.encode()) % len(self._shards)]
        return shard.tail(doc_id, after)
