"""Builds search from the settings: the index in MongoDB (when configured: shared by every
pod and worker) or in a SQLite FTS5 file in the data directory, and on a pod the follower
that keeps it in line with edits and the drive, refreshed every
TANDEM_SEARCH_REFRESH_INTERVAL_S.

The answerer's retrieval is ``WorkspaceKnowledge.retrieve``: a pod passes the one
``open_search`` yields; a ``tandem assistant`` worker opens its own with ``open_knowledge``
(it reads the index, and indexes a never-searched workspace from the tree and the store)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from assistant.knowledge.index import SearchIndex
from drive.service import Drive
from drive.tree_store import TreeStore
from server.access.directory import Directory
from server.backends import Backends
from server.periodic import Periodic
from server.settings import Settings
from sync.rooms import Rooms

from .follower import IndexFollower
from .knowledge import WorkspaceKnowledge, stored_text


@contextlib.asynccontextmanager
async def open_index(settings: Settings, backends: Backends) -> AsyncIterator[SearchIndex]:
    if backends.mongo is not None:
        from assistant.knowledge.mongo_index import MongoIndex

        mongo = MongoIndex(backends.mongo)
        await mongo.ensure_indexes()
        yield mongo
        return
    from assistant.knowledge.sqlite_index import SqliteIndex

    async with SqliteIndex(settings.data_dir / "search.db") as sqlite:
        yield sqlite


def _knowledge(
    settings: Settings, backends: Backends, index: SearchIndex, tree: TreeStore
) -> WorkspaceKnowledge:
    return WorkspaceKnowledge(
        index,
        tree.all,
        stored_text(backends.store),
        concurrency=settings.search_backfill_concurrency,
    )


@contextlib.asynccontextmanager
async def open_search(
    settings: Settings, backends: Backends, rooms: Rooms, drive: Drive, directory: Directory
) -> AsyncIterator[WorkspaceKnowledge]:
    """A pod's search: the retrieval object, with the follower running."""
    async with open_index(settings, backends) as index:
        knowledge = _knowledge(settings, backends, index, drive.store)
        follower = IndexFollower(knowledge, drive, directory, rooms)
        async with Periodic(follower.refresh, settings.search_refresh_interval_s, "indexing"):
            yield knowledge


@contextlib.asynccontextmanager
async def open_knowledge(
    settings: Settings, backends: Backends
) -> AsyncIterator[WorkspaceKnowledge]:
    """A ``tandem assistant`` worker's retrieval object (cluster mode: over MongoDB)."""
    async with open_index(settings, backends) as index:
        if backends.mongo is not None:
            from drive.mongo_tree import MongoTreeStore

            yield _knowledge(settings, backends, index, MongoTreeStore(backends.mongo))
            return
        from drive.sqlite_tree import SqliteTreeStore

        async with SqliteTreeStore(settings.data_dir / "drive.db") as tree:
            yield _knowledge(settings, backends, index, tree)
