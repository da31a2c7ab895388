"""File bytes in S3 / MinIO through the ``minio`` SDK: cluster mode.

The SDK is synchronous: every call runs on a thread behind a semaphore, and the client the
server passes in has bounded timeouts and retries (server/backends.py ``s3_client``). An
upload is spooled to a temporary file first (memory stays bounded, the size limit is checked
before anything reaches S3, and S3 gets a known length instead of a multipart guess)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, TypeVar

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error
from urllib3.exceptions import HTTPError

from .errors import ObjectMissingError, ObjectStoreError, TooLargeError
from .objects import CHUNK_BYTES, check_key

T = TypeVar("T")

_S3_ERRORS = (MinioException, HTTPError, OSError, ValueError)
_SPOOL_IN_MEMORY_BYTES = 1024 * 1024
_MISSING = ("NoSuchKey", "NoSuchObject", "ResourceNotFound")


class S3ObjectStore:
    def __init__(self, client: Minio, bucket: str, *, max_concurrency: int = 8) -> None:
        self._client = client
        self._bucket = bucket
        self._limit = asyncio.Semaphore(max_concurrency)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self._limit:
            try:
                return await asyncio.to_thread(fn, *args, **kwargs)
            except S3Error as exc:
                if exc.code in _MISSING:
                    raise ObjectMissingError(
                        f"no object {args[1] if len(args) > 1 else ''}"
                    ) from exc
                raise ObjectStoreError(f"object storage: {exc.code}") from exc
            except _S3_ERRORS as exc:
                raise ObjectStoreError(f"object storage: {type(exc).__name__}") from exc

    async def ensure_bucket(self) -> None:
        def make() -> None:
            if self._client.bucket_exists(self._bucket):
                return
            try:
                self._client.make_bucket(self._bucket)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

        await self._call(make)

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        check_key(key)
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES) as spool:
            size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLargeError(f"more than {max_bytes} bytes")
                await asyncio.to_thread(spool.write, chunk)
            await asyncio.to_thread(spool.seek, 0)
            await self._call(self._client.put_object, self._bucket, key, spool, size)
        return size

    async def get(self, key: str) -> AsyncIterator[bytes]:
        check_key(key)
        response = await self._call(self._client.get_object, self._bucket, key)
        try:
            stream = response.stream(CHUNK_BYTES)
            while chunk := await self._call(next, stream, b""):
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def size(self, key: str) -> int | None:
        check_key(key)
        try:
            stat = await self._call(self._client.stat_object, self._bucket, key)
        except ObjectMissingError:
            return None
        return int(stat.size or 0)

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._call(self._client.remove_object, self._bucket, key)

    async def delete_prefix(self, prefix: str) -> int:
        def remove() -> int:
            names = [
                DeleteObject(obj.object_name)
                for obj in self._client.list_objects(self._bucket, prefix=prefix, recursive=True)
                if obj.object_name
            ]
            errors = list(self._client.remove_objects(self._bucket, names))
            if errors:
                raise ObjectStoreError(f"could not delete {len(errors)} objects")
            return len(names)

        return await self._call(remove)
