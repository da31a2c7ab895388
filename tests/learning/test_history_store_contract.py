"""One contract for the edit history store, on SQLite and on the MongoDB wire protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from server.history.mongo_history import MongoHistory
from server.history.sqlite_history import SqliteHistory
from server.history.store import HistoryStore
from tests.mongo import MongoServer


@pytest.fixture(params=["sqlite", "mongo"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_server: MongoServer
) -> AsyncIterator[HistoryStore]:
    if request.param == "sqlite":
        async with SqliteHistory(tmp_path / "history.db") as sqlite:
            yield sqlite
        return
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_server.url())
    mongo = MongoHistory(client.get_default_database())
    await mongo.ensure_indexes()
    try:
        yield mongo
    finally:
        await client.close()


def session(sid: str, start: float, *, doc: str = "d1", ws: str = "w1", **more: Any) -> Any:
    return {
        "id": sid,
        "doc_id": doc,
        "workspace_id": ws,
        "user_id": "u1",
        "start": start,
        "end": start + 1,
        "inserted": 1,
        "deleted": 0,
        **more,
    }


async def test_sessions_are_upserted_in_batches_and_listed_newest_first(
    store: HistoryStore,
) -> None:
    await store.save_sessions([session("a", 1.0), session("b", 2.0), session("x", 3.0, doc="d2")])
    await store.save_sessions([session("a", 1.0, inserted=50, end=9.0)])
    await store.save_sessions([])
    found = await store.sessions("d1")
    assert [s["id"] for s in found] == ["b", "a"]
    assert found[1]["inserted"] == 50 and found[1]["end"] == 9.0
    assert [s["id"] for s in await store.sessions("d1", limit=1)] == ["b"]


async def test_points_list_without_text_and_read_with_it(store: HistoryStore) -> None:
    for pid, at in (("p1", 1.0), ("p2", 2.0)):
        await store.add_point(
            {"id": pid, "doc_id": "d1", "workspace_id": "w1", "at": at, "text": f"text {pid} ü"}
        )
    listed = await store.points("d1")
    assert [p["id"] for p in listed] == ["p2", "p1"] and all("text" not in p for p in listed)
    assert (await store.point("d1", "p1"))["text"] == "text p1 ü"  # type: ignore[index]
    assert await store.point("d2", "p1") is None
    await store.delete_points("d1", ["p1"])
    assert [p["id"] for p in await store.points("d1")] == ["p2"]


async def test_deleting_a_workspace_removes_its_history(store: HistoryStore) -> None:
    await store.save_sessions([session("a", 1.0), session("b", 1.0, ws="w2", doc="d2")])
    await store.add_point({"id": "p", "doc_id": "d1", "workspace_id": "w1", "at": 1, "text": ""})
    await store.delete_workspace("w1")
    await store.delete_workspace("w1")
    assert await store.sessions("d1") == [] and await store.points("d1") == []
    assert [s["id"] for s in await store.sessions("d2")] == ["b"]
