"""The one method the learning loop added to the assistant's records: which workspaces have
suggestions (the CronJob visits each), on SQLite and on the MongoDB wire protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from assistant.mongo_records import MongoRecords
from assistant.records import Records
from assistant.sqlite_records import SqliteRecords
from tests.mongo import MongoServer


@pytest.fixture(params=["sqlite", "mongo"])
async def records(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_server: MongoServer
) -> AsyncIterator[Records]:
    if request.param == "sqlite":
        async with SqliteRecords(tmp_path / "assistant.db") as store:
            yield store
        return
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_server.url())
    try:
        yield MongoRecords(client.get_default_database())
    finally:
        await client.close()


async def test_workspaces_with_suggestions_are_listed_once(records: Records) -> None:
    assert await records.workspaces() == []
    for sid, ws in (("s1", "w2"), ("s2", "w1"), ("s3", "w2")):
        await records.create(
            {"id": sid, "workspace_id": ws, "doc_id": "d", "created_at": 1.0, "status": "pending"}
        )
    assert await records.workspaces() == ["w1", "w2"]
    await records.delete_workspace("w2")
    assert await records.workspaces() == ["w1"]
