"""One contract, two tree stores: SQLite (embedded) and MongoDB (cluster, against the
nx-27017 wire-protocol server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from drive.entries import ROOT, Entry, Kind, new_entry_id
from drive.errors import EntryNotFoundError, NameTakenError
from drive.mongo_tree import MongoTreeStore
from drive.sqlite_tree import SqliteTreeStore
from drive.tree_store import TreeStore
from tests.mongo import MongoServer


@pytest.fixture(params=["sqlite", "mongo"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_server: MongoServer
) -> AsyncIterator[TreeStore]:
    if request.param == "sqlite":
        async with SqliteTreeStore(tmp_path / "drive.db") as sqlite:
            yield sqlite
        return
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_server.url())
    mongo = MongoTreeStore(client.get_default_database())
    await mongo.ensure_indexes()
    try:
        yield mongo
    finally:
        await client.close()


def entry(
    name: str, parent: str = ROOT, ws: str = "ws1", kind: Kind = Kind.FOLDER, **more: object
) -> Entry:
    return Entry(
        id=new_entry_id(),
        workspace_id=ws,
        parent_id=parent,
        name=name,
        kind=kind,
        created_by="u1",
        created_at=1000.0,
        modified_by="u1",
        modified_at=1000.0,
        **more,  # type: ignore[arg-type]
    )


async def test_entries_round_trip_with_every_field(store: TreeStore) -> None:
    folder = entry("docs")
    binary = entry(
        "café ☕.png",
        folder.id,
        kind=Kind.BINARY,
        size=12345,
        content_type="image/png",
        object_key="drive/ws1/abc",
    )
    text = entry(
        "notes.md", folder.id, kind=Kind.TEXT, size=3, content_type="text/markdown", doc_id="d1"
    )
    for item in (folder, binary, text):
        await store.insert(item)
    assert await store.get("ws1", binary.id) == binary
    assert await store.get("ws1", text.id) == text
    assert await store.children("ws1", folder.id) == sorted([binary, text], key=lambda e: e.name)
    assert await store.children("ws1", ROOT) == [folder]
    assert {e.id for e in await store.all("ws1")} == {folder.id, binary.id, text.id}


async def test_another_workspace_sees_nothing(store: TreeStore) -> None:
    mine = entry("docs", ws="ws-a")
    await store.insert(mine)
    assert await store.get("ws-b", mine.id) is None
    assert await store.all("ws-b") == []
    with pytest.raises(EntryNotFoundError):
        await store.save(replace(mine, workspace_id="ws-b", name="stolen"))
    await store.delete("ws-b", [mine.id])
    assert await store.get("ws-a", mine.id) == mine


async def test_live_siblings_cannot_share_a_name(store: TreeStore) -> None:
    first = entry("report")
    await store.insert(first)
    with pytest.raises(NameTakenError):
        await store.insert(entry("report", kind=Kind.TEXT, doc_id="d"))
    other = entry("other")
    await store.insert(other)
    with pytest.raises(NameTakenError):
        await store.save(replace(other, name="report"))
    assert (await store.get("ws1", other.id)) == other
    # Same name in another folder or another workspace is fine.
    await store.insert(entry("report", parent=first.id))
    await store.insert(entry("report", ws="ws2"))


async def test_trashed_entries_free_their_name(store: TreeStore) -> None:
    first = entry("report")
    await store.insert(first)
    await store.save(replace(first, trashed_at=2000.0, trashed_by="u1"))
    second = entry("report")
    await store.insert(second)
    another_trashed = entry("report", trashed_at=2001.0, trashed_by="u1")
    await store.insert(another_trashed)
    assert await store.children("ws1", ROOT) == [second]
    # Restoring the first one while the second holds the name is a conflict.
    with pytest.raises(NameTakenError):
        await store.save(replace(first, trashed_at=None, trashed_by=None))


async def test_concurrent_creates_of_one_name_let_one_win(store: TreeStore) -> None:
    results = await asyncio.gather(
        *(store.insert(entry("same")) for _ in range(6)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, NameTakenError) for r in results if r is not None)
    assert len(await store.children("ws1", ROOT)) == 1


async def test_usage_counts_every_file_of_the_workspace(store: TreeStore) -> None:
    assert await store.usage("ws1") == 0
    await store.insert(entry("a", kind=Kind.BINARY, size=100, object_key="k1"))
    await store.insert(entry("b", kind=Kind.BINARY, size=50, object_key="k2", trashed_at=5.0))
    await store.insert(entry("c", kind=Kind.TEXT, size=7, doc_id="d"))
    await store.insert(entry("d", ws="ws2", kind=Kind.BINARY, size=1000, object_key="k3"))
    assert await store.usage("ws1") == 157


async def test_a_text_file_is_found_by_its_document(store: TreeStore) -> None:
    text = entry("notes.md", kind=Kind.TEXT, size=7, doc_id="doc-1")
    await store.insert(text)
    await store.insert(entry("other.md", kind=Kind.TEXT, doc_id="doc-2", trashed_at=5.0))
    await store.insert(entry("x", kind=Kind.BINARY, object_key="k1"))
    assert await store.by_doc("ws1", "doc-1") == text
    assert (await store.by_doc("ws1", "doc-2")).name == "other.md"  # type: ignore[union-attr]
    assert await store.by_doc("ws2", "doc-1") is None  # only within its workspace
    assert await store.by_doc("ws1", "doc-3") is None


async def test_save_of_a_missing_entry_is_not_found(store: TreeStore) -> None:
    with pytest.raises(EntryNotFoundError):
        await store.save(entry("ghost"))


async def test_delete_and_delete_workspace(store: TreeStore) -> None:
    a, b = entry("a"), entry("b")
    keep = entry("keep", ws="ws2")
    for item in (a, b, keep):
        await store.insert(item)
    await store.delete("ws1", [a.id])
    assert [e.id for e in await store.all("ws1")] == [b.id]
    await store.delete_workspace("ws1")
    assert await store.all("ws1") == []
    assert await store.all("ws2") == [keep]
