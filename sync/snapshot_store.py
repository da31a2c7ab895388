"""Document snapshots as immutable objects in S3 (the ``minio`` SDK, in threads).

Every compaction writes a *new* object named after the log id it includes; readers merge all
of a document's snapshots, so a crashed or doubled compaction leaves extra objects, never a
gap. Old objects are deleted last, by the compaction that superseded them."""

from __future__ import annotations

import asyncio
import io
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from minio import Minio
from minio.error import MinioException, S3Error
from urllib3.exceptions import HTTPError

from .store import StoreError
from .types import DocId, LogId

T = TypeVar("T")

_S3_ERRORS = (MinioException, HTTPError, OSError, ValueError)


@dataclass(frozen=True, slots=True)
class SnapshotRef:
    key: str
    upto: LogId
    """The newest log entry the snapshot contains."""

    @property
    def order(self) -> tuple[int, int]:
        ms, _, seq = self.upto.partition("-")
        return int(ms), int(seq or 0)


def _prefix(doc_id: DocId) -> str:
    return f"docs/{doc_id}/snapshots/"


def _key(doc_id: DocId, upto: LogId) -> str:
    ms, _, seq = upto.partition("-")
    return f"{_prefix(doc_id)}{int(ms):016d}-{int(seq or 0):010d}-{uuid.uuid4().hex}.ybin"


def _ref(key: str) -> SnapshotRef:
    ms, seq, _rest = key.rsplit("/", 1)[1].split("-", 2)
    return SnapshotRef(key=key, upto=LogId(f"{int(ms)}-{int(seq)}"))


class SnapshotStore:
    def __init__(self, client: Minio, bucket: str, *, max_concurrency: int = 8) -> None:
        self._client = client
        self._bucket = bucket
        self._limit = asyncio.Semaphore(max_concurrency)

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async with self._limit:
            try:
                return await asyncio.to_thread(fn, *args, **kwargs)
            except _S3_ERRORS as exc:
                raise StoreError(f"object storage: {exc}") from exc

    async def ensure_bucket(self) -> None:
        def make() -> None:
            if self._client.bucket_exists(self._bucket):
                return
            try:
                self._client.make_bucket(self._bucket)
            except S3Error as exc:
                # Pods starting together race to create it; losing that race is fine.
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

        await self._call(make)

    async def reachable(self) -> None:
        await self._call(self._client.bucket_exists, self._bucket)

    async def refs(self, doc_id: DocId) -> list[SnapshotRef]:
        def names() -> list[str]:
            objects = self._client.list_objects(self._bucket, prefix=_prefix(doc_id))
            return [obj.object_name for obj in objects if obj.object_name.endswith(".ybin")]

        refs = [_ref(name) for name in await self._call(names)]
        return sorted(refs, key=lambda ref: ref.order)

    async def get(self, ref: SnapshotRef) -> bytes:
        def read() -> bytes:
            response = self._client.get_object(self._bucket, ref.key)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        return bytes(await self._call(read))

    async def put(self, doc_id: DocId, upto: LogId, data: bytes) -> SnapshotRef:
        key = _key(doc_id, upto)
        await self._call(
            self._client.put_object,
            self._bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type="application/octet-stream",
        )
        return SnapshotRef(key=key, upto=upto)

    async def delete(self, refs: list[SnapshotRef]) -> None:
        for ref in refs:
            await self._call(self._client.remove_object, self._bucket, ref.key)
