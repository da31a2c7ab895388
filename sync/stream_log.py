"""A document's update log as a Redis stream: append, read ranges, trim. Following streams
as they grow is ``stream_follower.StreamFollower``'s job.

Streams, unlike pub/sub, keep what they deliver: a reader that loses its connection resumes
from the last id it delivered, so a Redis restart or a stalled pod causes no gap and no
duplicate."""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .store import LogEntry, StoreError
from .types import DocId, LogId, Origin, Update

log = logging.getLogger(__name__)

_ORIGIN = b"o"
_UPDATE = b"u"


def stream_key(doc_id: DocId) -> str:
    return f"tandem:doc:{doc_id}:log"


def id_after(entry_id: LogId) -> str:
    """The smallest stream id greater than ``entry_id`` (XTRIM MINID keeps ids >= it)."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def id_millis(entry_id: LogId) -> int:
    return int(entry_id.partition("-")[0])


def entry_from_row(raw_id: bytes, fields: dict[bytes, bytes]) -> LogEntry:
    return LogEntry(
        id=LogId(raw_id.decode()), origin=Origin(fields[_ORIGIN].decode()), update=fields[_UPDATE]
    )


class StreamLog:
    def __init__(
        self,
        redis: Redis,
        *,
        block_ms: int = 2000,
        batch: int = 512,
        backoff_max_s: float = 5.0,
    ) -> None:
        self._redis = redis
        self._block_ms = block_ms
        self._batch = batch
        self._backoff_max_s = backoff_max_s

    async def append(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
        try:
            raw = await self._redis.xadd(stream_key(doc_id), {_ORIGIN: origin, _UPDATE: update})
        except RedisError as exc:
            raise StoreError(f"append to {doc_id}: {exc}") from exc
        return LogId(raw.decode())

    async def read(self, doc_id: DocId, after: LogId | None = None) -> list[LogEntry]:
        """Every entry after ``after`` (all when None), in order."""
        start = f"({after}" if after else "-"
        entries: list[LogEntry] = []
        try:
            while True:
                rows = await self._redis.xrange(stream_key(doc_id), start, "+", count=self._batch)
                entries += [entry_from_row(raw_id, fields) for raw_id, fields in rows]
                if len(rows) < self._batch:
                    return entries
                start = f"({entries[-1].id}"
        except RedisError as exc:
            raise StoreError(f"read {doc_id}: {exc}") from exc

    async def trim(self, doc_id: DocId, upto: LogId) -> None:
        """Drop the entries up to and including ``upto``; newer ones stay."""
        try:
            await self._redis.xtrim(stream_key(doc_id), minid=id_after(upto), approximate=False)
        except RedisError as exc:
            raise StoreError(f"trim {doc_id}: {exc}") from exc

    async def length_and_oldest(self, doc_id: DocId) -> tuple[int, float | None]:
        try:
            length = await self._redis.xlen(stream_key(doc_id))
            first = await self._redis.xrange(stream_key(doc_id), "-", "+", count=1)
        except RedisError as exc:
            raise StoreError(f"stats {doc_id}: {exc}") from exc
        age = time.time() - id_millis(LogId(first[0][0].decode())) / 1000 if first else None
        return length, age
