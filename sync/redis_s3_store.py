"""Cluster mode's document store: the log in a Redis stream, snapshots as objects in S3.

Loading merges every snapshot object and the stream entries after the newest one. Compaction
(one pod at a time per document, under a lease) writes a new snapshot object, marks in Redis
that the document has snapshots, only then trims the stream up to what that snapshot contains,
and deletes the superseded objects last: a crash between any two steps leaves data twice,
never nowhere. The mark lets a document that was never compacted load from Redis alone, so
an S3 outage blocks no edit except opening a document whose history is in S3."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .lease import Lease
from .merging import merge
from .snapshot_store import SnapshotRef, SnapshotStore
from .store import DocState, LoadedDoc, LogStats, StoreError
from .stream_log import StreamLog
from .types import DocId, LogId, Origin, Update

log = logging.getLogger(__name__)


_LOAD_ATTEMPTS = 5


def _mark(doc_id: DocId) -> str:
    return f"tandem:doc:{doc_id}:snapshot"


def _newest(refs: list[SnapshotRef]) -> LogId | None:
    return max(refs, key=lambda ref: ref.order).upto if refs else None


class RedisS3Store:
    def __init__(
        self,
        redis: Redis,
        snapshots: SnapshotStore,
        *,
        lease_ttl_ms: int = 30_000,
    ) -> None:
        self._redis = redis
        self.log = StreamLog(redis)
        self.snapshots = snapshots
        self._lease_ttl_ms = lease_ttl_ms

    async def load(self, doc_id: DocId) -> LoadedDoc:
        for attempt in range(_LOAD_ATTEMPTS):
            try:
                compacted = await self._redis.exists(_mark(doc_id))
            except RedisError as exc:
                raise StoreError(f"load {doc_id}: {exc}") from exc
            refs = await self.snapshots.refs(doc_id) if compacted else []
            try:
                bodies = [await self.snapshots.get(ref) for ref in refs]
            except StoreError:
                # A compaction may have deleted a superseded snapshot since we listed them.
                if attempt == _LOAD_ATTEMPTS - 1:
                    raise
                continue
            upto = _newest(refs)
            tail = await self.log.read(doc_id, after=upto)
            if tail.lost_after(upto):
                continue  # a compaction finished meanwhile; its snapshot has what was trimmed
            updates = ([await merge(bodies)] if bodies else []) + [e.update for e in tail.entries]
            last = tail.entries[-1].id if tail.entries else upto
            return LoadedDoc(updates=updates, last_id=last)
        raise StoreError(f"load {doc_id}: compactions kept trimming the log while it was read")

    async def append(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
        return await self.log.append(doc_id, update, origin)

    async def stats(self, doc_id: DocId) -> LogStats:
        entries, age = await self.log.length_and_oldest(doc_id)
        try:
            size = await self._redis.memory_usage(f"tandem:doc:{doc_id}:log") or 0
        except RedisError:
            size = 0
        return LogStats(entries=entries, bytes=int(size), oldest_age_s=age)

    async def compact(self, doc_id: DocId, state: DocState | None = None) -> bool:
        # ``state`` goes unused: another pod's entries may sit in this log between this pod's
        # own, and a room applies its own update before the append that gives it its id.
        lease = Lease(self._redis, f"tandem:doc:{doc_id}:compacting", self._lease_ttl_ms)
        try:
            async with lease.hold() as held:
                if not held:
                    return False
                return await self._compact(doc_id, lease)
        except RedisError as exc:
            raise StoreError(f"compact {doc_id}: {exc}") from exc

    async def _compact(self, doc_id: DocId, lease: Lease) -> bool:
        refs = await self.snapshots.refs(doc_id)
        tail = (await self.log.read(doc_id, after=_newest(refs))).entries
        if not tail and len(refs) <= 1:
            return False
        bodies = [await self.snapshots.get(ref) for ref in refs]
        merged = await merge([*bodies, *(e.update for e in tail)])
        upto = tail[-1].id if tail else _newest(refs)
        assert upto is not None
        lease.check()
        written = await self.snapshots.put(doc_id, upto, merged)
        lease.check()
        await self._redis.set(_mark(doc_id), written.key)
        await self.log.trim(doc_id, upto)
        await self.snapshots.delete([ref for ref in refs if ref.key != written.key])
        return True

    async def aclose(self) -> None:
        await self._redis.aclose()
