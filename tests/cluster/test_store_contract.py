"""One contract, two stores: the embedded SQLite store and the Redis + S3 cluster store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sync.sqlite_store import SqliteStore
from sync.store import DocumentStore
from sync.types import DocId, Origin
from tests.cluster.conftest import open_cluster_store
from tests.typing_doc import Typist, rebuild

ORIGIN = Origin("pod-a")


@pytest.fixture
def doc() -> DocId:
    return DocId(f"doc-{uuid.uuid4().hex[:12]}")  # snapshots live on across tests


@pytest.fixture(params=["sqlite", "redis+s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DocumentStore]:
    if request.param == "sqlite":
        async with SqliteStore(tmp_path / "t.db") as embedded:
            yield embedded
        return
    # Only sync fixtures can be requested from here; the services are session-wide anyway.
    valkey, s3 = request.getfixturevalue("valkey"), request.getfixturevalue("s3")
    cluster = await open_cluster_store(valkey, s3)
    yield cluster
    await cluster.aclose()


async def test_appended_updates_rebuild_the_document(store: DocumentStore, doc: DocId) -> None:
    writer = Typist()
    ids = [await store.append(doc, writer.type(f"{i} "), ORIGIN) for i in range(30)]
    loaded = await store.load(doc)
    assert rebuild(loaded.updates) == str(writer.text)
    assert loaded.last_id == ids[-1]


async def test_unknown_document_loads_empty_and_writes_nothing(
    store: DocumentStore, doc: DocId
) -> None:
    loaded = await store.load(DocId("never-written"))
    assert loaded.updates == [] and loaded.last_id is None
    assert (await store.stats(DocId("never-written"))).entries == 0


async def test_compaction_keeps_content_and_shrinks_the_log(
    store: DocumentStore, doc: DocId
) -> None:
    writer = Typist()
    for i in range(50):
        await store.append(doc, writer.type("ab"), ORIGIN)
    assert (await store.stats(doc)).entries == 50
    assert await store.compact(doc) is True
    assert (await store.stats(doc)).entries == 0
    loaded = await store.load(doc)
    assert rebuild(loaded.updates) == "ab" * 50
    assert len(loaded.updates) == 1
    assert await store.compact(doc) is False  # nothing new to fold


async def test_compacting_twice_at_once_is_harmless(store: DocumentStore, doc: DocId) -> None:
    writer = Typist()
    for i in range(40):
        await store.append(doc, writer.type(str(i % 10)), ORIGIN)
    await asyncio.gather(store.compact(doc), store.compact(doc))
    await store.compact(doc)
    assert rebuild((await store.load(doc)).updates) == str(writer.text)


async def test_updates_appended_during_compaction_survive(store: DocumentStore, doc: DocId) -> None:
    writer = Typist()
    for _ in range(40):
        await store.append(doc, writer.type("x"), ORIGIN)

    async def keep_typing() -> None:
        for _ in range(40):
            await store.append(doc, writer.type("y"), ORIGIN)

    await asyncio.gather(store.compact(doc), keep_typing())
    assert rebuild((await store.load(doc)).updates) == str(writer.text)
    await store.compact(doc)
    assert rebuild((await store.load(doc)).updates) == str(writer.text)


async def test_stats_report_entries_and_age(store: DocumentStore, doc: DocId) -> None:
    writer = Typist()
    for _ in range(5):
        await store.append(doc, writer.type("z"), ORIGIN)
    stats = await store.stats(doc)
    assert stats.entries == 5
    assert stats.oldest_age_s is not None and 0 <= stats.oldest_age_s < 60
