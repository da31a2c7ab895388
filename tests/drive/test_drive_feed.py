"""The live tree's repair path, in process with the real parts (SQLite sync store, rooms,
SQLite directory and tree, local objects): a lost or damaged feed is brought back in line
by the next ``tree()`` (what GET /drive calls when a member opens the drive)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from pycrdt import Doc, Map

from drive.entries import ROOT
from drive.local_objects import LocalObjectStore
from drive.locks import LocalLocks
from drive.service import Drive
from drive.sqlite_tree import SqliteTreeStore
from server.access.sqlite_directory import SqliteDirectory
from server.drive.documents import RoomDocuments
from server.drive.feed import ENTRIES, RoomTreeFeed, tree_doc_id
from sync.limits import SyncLimits
from sync.rooms import Rooms
from sync.sqlite_store import SqliteStore
from sync.types import DocId, Origin


@contextlib.asynccontextmanager
async def open_drive(tmp: Path, directory: SqliteDirectory) -> AsyncIterator[tuple[Drive, Rooms]]:
    async with (
        SqliteStore(tmp / "tandem.db") as store,
        Rooms(store, origin=Origin("test"), limits=SyncLimits(room_grace_s=0.01)) as rooms,
        SqliteTreeStore(tmp / "drive.db") as tree,
    ):
        drive = Drive(
            tree,
            LocalObjectStore(tmp / "objects"),
            RoomDocuments(rooms, directory),
            RoomTreeFeed(rooms, directory),
            LocalLocks(),
        )
        yield drive, rooms


@pytest.fixture
async def directory(tmp_path: Path) -> AsyncIterator[SqliteDirectory]:
    async with SqliteDirectory(tmp_path / "accounts.db") as found:
        yield found


async def feed_of(rooms: Rooms, ws: str) -> dict[str, object]:
    return await rooms.edit(DocId(tree_doc_id(ws)), lambda doc: doc.get(ENTRIES, type=Map).to_py())


async def test_a_damaged_feed_is_repaired_when_the_tree_is_read(
    tmp_path: Path, directory: SqliteDirectory
) -> None:
    owner = await directory.create_user("owner", "hash")
    ws = (await directory.create_workspace("Team", owner.id)).id
    async with open_drive(tmp_path, directory) as (drive, rooms):
        kept = await drive.create_folder(ws, ROOT, "kept", owner.id)
        renamed = await drive.create_folder(ws, ROOT, "old name", owner.id)
        await drive.tree(ws)
        # What the publishes wrote is what the store holds: reads need no repair (no lock).
        assert await drive.feed.matches(ws, await drive.store.all(ws))

        def damage(doc: Doc) -> None:
            entries = doc.get(ENTRIES, type=Map)
            del entries[kept.id]
            entries["ghost"] = {"name": "ghost"}

        await rooms.edit(DocId(tree_doc_id(ws)), damage)
        # A change the feed never heard of (as if its publish had been lost).
        await drive.store.save(replace(renamed, name="new name"))
        assert not await drive.feed.matches(ws, await drive.store.all(ws))
        await drive.tree(ws)
        feed = await feed_of(rooms, ws)
        assert await drive.feed.matches(ws, await drive.store.all(ws))
    assert set(feed) == {kept.id, renamed.id}
    assert feed[renamed.id]["name"] == "new name"  # type: ignore[index]
    assert (await directory.doc(tree_doc_id(ws))).server_only  # type: ignore[union-attr]


async def test_changes_made_while_the_feed_is_down_reach_it_later(
    tmp_path: Path, directory: SqliteDirectory
) -> None:
    owner = await directory.create_user("owner", "hash")
    ws = (await directory.create_workspace("Team", owner.id)).id
    async with open_drive(tmp_path, directory) as (drive, rooms):
        first = await drive.create_folder(ws, ROOT, "first", owner.id)
        await rooms.aclose(1001, "gone")  # every later publish fails
        second = await drive.create_folder(ws, ROOT, "second", owner.id)
        assert {e.id for e in await drive.listing(ws, ROOT)} == {first.id, second.id}
    async with open_drive(tmp_path, directory) as (drive, rooms):
        assert set(await feed_of(rooms, ws)) == {first.id}
        await drive.tree(ws)
        assert set(await feed_of(rooms, ws)) == {first.id, second.id}
