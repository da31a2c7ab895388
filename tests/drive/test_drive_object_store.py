"""One contract, two object stores: a local directory (embedded) and S3 (cluster, against
the SeaweedFS S3 server through the minio SDK)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drive.errors import ObjectMissingError, ObjectStoreError, TooLargeError
from drive.local_objects import LocalObjectStore
from drive.objects import ObjectStore, new_object_key
from drive.s3_objects import S3ObjectStore
from server.backends import s3_client
from tests.cluster.services import S3Server

BUCKET = "tandem-drive-test"


@pytest.fixture(params=["local", "s3"])
async def objects(
    request: pytest.FixtureRequest, tmp_path: Path, drive_s3: S3Server
) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects")
        return
    client = s3_client(
        drive_s3.endpoint, drive_s3.access_key, drive_s3.secret_key, secure=False, timeout_s=10
    )
    store = S3ObjectStore(client, BUCKET)
    await store.ensure_bucket()
    yield store


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(objects: ObjectStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in objects.get(key)])


async def test_put_get_round_trip_in_chunks(objects: ObjectStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    key = new_object_key("ws1")
    assert await objects.put(key, chunks_of(data), max_bytes=len(data)) == len(data)
    assert await objects.size(key) == len(data)
    assert hashlib.sha256(await read_all(objects, key)).digest() == hashlib.sha256(data).digest()


async def test_empty_object(objects: ObjectStore) -> None:
    key = new_object_key("ws1")
    assert await objects.put(key, chunks_of(b""), max_bytes=10) == 0
    assert await read_all(objects, key) == b""


async def test_over_the_limit_stores_nothing(objects: ObjectStore) -> None:
    key = new_object_key("ws1")
    with pytest.raises(TooLargeError):
        await objects.put(key, chunks_of(b"x" * 1000, 100), max_bytes=999)
    assert await objects.size(key) is None
    with pytest.raises(ObjectMissingError):
        await read_all(objects, key)


async def test_missing_objects_and_idempotent_delete(objects: ObjectStore) -> None:
    key = new_object_key("ws1")
    assert await objects.size(key) is None
    await objects.delete(key)
    await objects.put(key, chunks_of(b"abc"), max_bytes=3)
    await objects.delete(key)
    await objects.delete(key)
    assert await objects.size(key) is None


async def test_a_rewrite_replaces_the_object_whole(objects: ObjectStore) -> None:
    key = new_object_key("ws1")
    await objects.put(key, chunks_of(b"first version"), max_bytes=100)
    await objects.put(key, chunks_of(b"second"), max_bytes=100)
    assert await read_all(objects, key) == b"second"


async def test_concurrent_puts_keep_their_own_bytes(objects: ObjectStore) -> None:
    blobs = {new_object_key("ws1"): os.urandom(200_000 + i) for i in range(6)}
    await asyncio.gather(*(objects.put(k, chunks_of(v), max_bytes=10**6) for k, v in blobs.items()))
    for key, data in blobs.items():
        assert await read_all(objects, key) == data


async def test_delete_prefix_removes_one_workspace_only(objects: ObjectStore) -> None:
    doomed = [new_object_key("gone-ws") for _ in range(3)]
    kept = new_object_key("kept-ws")
    for key in [*doomed, kept]:
        await objects.put(key, chunks_of(b"data"), max_bytes=10)
    assert await objects.delete_prefix("drive/gone-ws/") == 3
    for key in doomed:
        assert await objects.size(key) is None
    assert await objects.size(kept) == 4


@pytest.mark.parametrize("key", ["../etc/passwd", "drive/../../x", "/abs", "a b", "drive/ws/"])
async def test_keys_outside_the_scheme_are_refused(objects: ObjectStore, key: str) -> None:
    with pytest.raises(ObjectStoreError):
        await objects.put(key, chunks_of(b"x"), max_bytes=10)


def test_new_keys_are_random_and_never_derive_from_names() -> None:
    keys = {new_object_key("ws") for _ in range(100)}
    assert len(keys) == 100
    assert all(key.startswith("drive/ws/") for key in keys)
