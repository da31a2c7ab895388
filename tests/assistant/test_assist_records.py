"""One contract for the assistant's records, run on SQLite and on the MongoDB wire protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from assistant.mongo_records import MongoRecords
from assistant.records import Records
from assistant.sqlite_records import SqliteRecords
from tests.mongo import MongoServer, running_mongo


@pytest.fixture(scope="module")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    with running_mongo(tmp_path_factory.mktemp("records-mongo")) as server:
        yield server


@pytest.fixture(params=["sqlite", "mongo"])
async def records(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_server: MongoServer
) -> AsyncIterator[Records]:
    if request.param == "sqlite":
        async with SqliteRecords(tmp_path / "assistant.db") as store:
            yield store
        return
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_server.url(), serverSelectionTimeoutMS=5000
    )
    store = MongoRecords(client.get_default_database())
    await store.ensure_indexes()
    try:
        yield store
    finally:
        await client.close()


def record(sid: str, ws: str = "w1", at: float = 100.0) -> dict[str, Any]:
    return {
        "id": sid,
        "workspace_id": ws,
        "doc_id": "d1",
        "user_id": "u1",
        "username": "alice",
        "mode": "rewrite",
        "instruction": "shorter",
        "original": "Grüße 😀",
        "original_sha256": "x",
        "status": "streaming",
        "created_at": at,
    }


async def test_create_is_idempotent_and_updates_merge(records: Records) -> None:
    assert await records.create(record("s1")) is True
    assert await records.create({**record("s1"), "instruction": "other"}) is False
    prompt = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "[REDACTED:jwt]"},
    ]
    await records.update("s1", {"model": "m1", "prompt": prompt, "started_at": 101.0})
    await records.update(
        "s1",
        {"status": "pending", "output": "Hallo 👋", "first_token_ms": 12.5, "total_ms": 80.0,
         "prompt_tokens": 30, "completion_tokens": 4},
    )  # fmt: skip
    got = await records.get("s1")
    assert got is not None
    assert got["instruction"] == "shorter" and got["original"] == "Grüße 😀"
    assert got["prompt"] == prompt and got["output"] == "Hallo 👋"
    assert got["status"] == "pending" and got["completion_tokens"] == 4
    assert await records.get("missing") is None


async def test_decisions_are_kept_in_order_and_set_the_status(records: Records) -> None:
    await records.create(record("s2"))
    for action, user, at in (("stale", None, 5.0), ("accepted", "u2", 6.0)):
        await records.decide(
            {"suggestion_id": "s2", "workspace_id": "w1", "doc_id": "d1", "action": action,
             "user_id": user, "username": None, "at": at, "via": "accept", "detail": None}
        )  # fmt: skip
    decisions = await records.decisions("s2")
    assert [d["action"] for d in decisions] == ["stale", "accepted"]
    assert decisions[1]["user_id"] == "u2"
    got = await records.get("s2")
    assert got is not None and got["status"] == "accepted" and got["decided_by"] == "u2"


async def test_workspace_listing_and_deletion(records: Records) -> None:
    await records.create(record("a", ws="wa", at=1.0))
    await records.create(record("c", ws="wa", at=3.0))
    await records.create(record("b", ws="wa", at=2.0))
    await records.create(record("z", ws="wz", at=2.0))
    await records.decide(
        {"suggestion_id": "a", "workspace_id": "wa", "doc_id": "d1", "action": "rejected",
         "user_id": "u1", "username": "alice", "at": 4.0, "via": "reject", "detail": None}
    )  # fmt: skip
    assert [r["id"] for r in await records.for_workspace("wa")] == ["a", "b", "c"]
    assert [r["id"] for r in await records.for_workspace("wa", since=2.0)] == ["b", "c"]
    assert [r["id"] for r in await records.for_workspace("wa", limit=1)] == ["a"]
    await records.set_instructions("wa", "Write in British English.", "u1")
    await records.set_instructions("wa", "Write in British English, briefly.", "u2")
    await records.set_instructions("wz", "Use tabs.", "u1")
    assert await records.instructions("wa") == "Write in British English, briefly."
    assert await records.instructions("nowhere") == ""
    assert await records.delete_workspace("wa") == 3
    assert await records.instructions("wa") == ""
    assert await records.instructions("wz") == "Use tabs."
    assert await records.for_workspace("wa") == []
    assert await records.decisions("a") == []
    assert [r["id"] for r in await records.for_workspace("wz")] == ["z"]


async def test_suggestions_made_from_an_answer_are_found_by_set_and_by_answer(
    records: Records,
) -> None:
    for sid, set_id, answer_id, at in [
        ("a1", "set1", "ans1", 1.0),
        ("a2", "set1", "ans1", 2.0),
        ("a3", "set2", "ans1", 3.0),
        ("b1", "set3", "ans2", 4.0),
    ]:
        source = {"kind": "thread", "thread_id": "t", "answer_id": answer_id, "set_id": set_id}
        await records.create(
            {**record(sid, at=at), "source": source, "set_id": set_id, "answer_id": answer_id}
        )
    await records.create(record("plain", at=5.0))
    assert [r["id"] for r in await records.with_source(set_id="set1")] == ["a1", "a2"]
    assert [r["id"] for r in await records.with_source(answer_id="ans1")] == ["a1", "a2", "a3"]
    assert (await records.with_source(set_id="set3"))[0]["source"]["answer_id"] == "ans2"
    assert await records.with_source(set_id="none") == []
