"""Builds the drive the settings ask for: object storage in S3 (cluster mode) or a local
directory, tree metadata in MongoDB (when configured) or SQLite, locks in Redis (cluster
mode) or in process."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from drive.errors import ObjectStoreError
from drive.limits import DriveLimits
from drive.local_objects import LocalObjectStore
from drive.locks import LocalLocks, RedisLocks
from drive.objects import ObjectStore
from drive.ports import WorkspaceLocks
from drive.service import Drive
from drive.tree_store import TreeStore
from server.access.guard import Access
from server.backends import Backends
from server.periodic import Periodic
from server.settings import Settings
from sync.rooms import Rooms

from .documents import RoomDocuments
from .feed import RoomTreeFeed
from .sizes import TextSizes

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_drive(
    settings: Settings, backends: Backends, rooms: Rooms, access: Access
) -> AsyncIterator[Drive]:
    objects = await _objects(settings, backends)
    locks: WorkspaceLocks = (
        RedisLocks(backends.redis, timeout_s=settings.drive_lock_timeout_s)
        if backends.redis is not None
        else LocalLocks(timeout_s=settings.drive_lock_timeout_s)
    )
    limits = DriveLimits(
        max_upload_bytes=settings.max_upload_bytes,
        workspace_quota_bytes=settings.workspace_quota_bytes,
        max_text_file_bytes=settings.max_text_file_bytes,
    )
    directory = access.directory
    async with _tree_store(settings, backends) as tree:
        drive = Drive(
            tree,
            objects,
            RoomDocuments(rooms, directory),
            RoomTreeFeed(rooms, directory),
            locks,
            limits,
        )
        sizes = TextSizes(drive, directory, rooms)
        async with Periodic(sizes.refresh, settings.drive_size_interval_s, "sizing text files"):
            yield drive


async def _objects(settings: Settings, backends: Backends) -> ObjectStore:
    if backends.minio is None:
        return LocalObjectStore(settings.data_dir / "objects")
    from drive.s3_objects import S3ObjectStore

    store = S3ObjectStore(backends.minio, settings.s3_bucket)
    try:
        await store.ensure_bucket()
    except ObjectStoreError as exc:
        # Tree operations still work; uploads fail with 503 until storage is back.
        log.warning("object storage unavailable at start: %s", exc)
    return store


@contextlib.asynccontextmanager
async def _tree_store(settings: Settings, backends: Backends) -> AsyncIterator[TreeStore]:
    if backends.mongo is not None:
        from drive.mongo_tree import MongoTreeStore

        mongo = MongoTreeStore(backends.mongo)
        await mongo.ensure_indexes()
        yield mongo
        return
    from drive.sqlite_tree import SqliteTreeStore

    if not settings.embedded:
        log.warning(
            "cluster mode without TANDEM_MONGODB_URL: each pod keeps its own drive tree; "
            "set it so every pod sees the same folders"
        )

    async with SqliteTreeStore(settings.data_dir / "drive.db") as sqlite:
        yield sqlite
