"""One contract for the learning store and the registry on top of it, run on SQLite and on the
MongoDB wire protocol (nx-27017)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from learning.mongo_store import MongoLearningStore
from learning.registry import ModelRegistry, RegistryError
from learning.sqlite_store import SqliteLearningStore
from learning.store import LearningStore
from tests.mongo import MongoServer


@pytest.fixture(params=["sqlite", "mongo"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_server: MongoServer
) -> AsyncIterator[LearningStore]:
    if request.param == "sqlite":
        async with SqliteLearningStore(tmp_path / "learning.db") as sqlite:
            yield sqlite
        return
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_server.url(), serverSelectionTimeoutMS=5000
    )
    mongo = MongoLearningStore(client.get_default_database())
    await mongo.ensure_indexes()
    try:
        yield mongo
    finally:
        await client.close()


def run(ws: str, day: str, **fields: Any) -> dict[str, Any]:
    return {"workspace_id": ws, "day": day, "state": "started", **fields}


async def test_a_run_is_claimed_once_per_workspace_and_day(store: LearningStore) -> None:
    assert await store.claim_run(run("w1", "2026-11-25", cutoff=1.0))
    assert not await store.claim_run(run("w1", "2026-11-25", cutoff=2.0))
    assert await store.claim_run(run("w1", "2026-11-26"))
    assert await store.claim_run(run("w2", "2026-11-25"))
    stored = await store.run("w1", "2026-11-25")
    assert stored is not None and stored["cutoff"] == 1.0
    await store.save_run({**stored, "state": "submitted", "job_id": "ftjob-1"})
    assert (await store.run("w1", "2026-11-25"))["job_id"] == "ftjob-1"  # type: ignore[index]
    assert [r["day"] for r in await store.runs("w1")] == ["2026-11-26", "2026-11-25"]
    assert await store.run("w3", "2026-11-25") is None


async def test_outcomes_replace_by_suggestion_and_sort_by_decision_time(
    store: LearningStore,
) -> None:
    await store.save_outcome({"suggestion_id": "s2", "workspace_id": "w1", "decided_at": 20.0})
    await store.save_outcome(
        {"suggestion_id": "s1", "workspace_id": "w1", "decided_at": 10.0, "kind": "kept"}
    )
    await store.save_outcome(
        {"suggestion_id": "s1", "workspace_id": "w1", "decided_at": 10.0, "kind": "edited"}
    )
    await store.save_outcome({"suggestion_id": "s3", "workspace_id": "w2", "decided_at": 5.0})
    found = await store.outcomes("w1")
    assert [o["suggestion_id"] for o in found] == ["s1", "s2"]
    assert found[0]["kind"] == "edited"


async def test_registry_promotes_and_rolls_back(store: LearningStore) -> None:
    registry = ModelRegistry(store, cache_s=0.0)
    assert await registry.model_for("w1") is None
    with pytest.raises(RegistryError):
        await registry.promote("w1", "ft:unknown")
    for model in ("ft:a", "ft:b"):
        await registry.register({"workspace_id": "w1", "model_id": model})
    await registry.register({"workspace_id": "w1", "model_id": "ft:a"})  # idempotent
    assert [m["model_id"] for m in await store.models("w1")] == ["ft:a", "ft:b"]
    await registry.promote("w1", "ft:a")
    await registry.promote("w1", "ft:b")
    assert await registry.model_for("w1") == "ft:b"
    assert (await registry.status("w1"))["rollback_to"] == "ft:a"
    assert await registry.model_for("w2") is None
    await registry.rollback("w1")
    assert await registry.model_for("w1") == "ft:a"
    await registry.rollback("w1")
    assert await registry.model_for("w1") is None
    with pytest.raises(RegistryError):
        await registry.rollback("w1")


async def test_registry_answers_from_its_cache_until_it_expires(store: LearningStore) -> None:
    reader = ModelRegistry(store, cache_s=3600.0)
    writer = ModelRegistry(store)
    assert await reader.model_for("w1") is None
    await writer.register({"workspace_id": "w1", "model_id": "ft:a"})
    await writer.promote("w1", "ft:a")
    assert await reader.model_for("w1") is None  # cached: one store read per cache period
    assert await ModelRegistry(store, cache_s=3600.0).model_for("w1") == "ft:a"


async def test_deleting_a_workspace_removes_everything_it_had(store: LearningStore) -> None:
    for ws in ("w1", "w2"):
        await store.claim_run(run(ws, "2026-11-25"))
        await store.add_model({"workspace_id": ws, "model_id": f"ft:{ws}"})
        await store.save_pointer({"workspace_id": ws, "history": [f"ft:{ws}"]})
        await store.save_outcome({"suggestion_id": f"s-{ws}", "workspace_id": ws})
    assert await store.workspaces() == ["w1", "w2"]
    await store.delete_workspace("w1")
    await store.delete_workspace("w1")  # idempotent
    assert await store.workspaces() == ["w2"]
    assert await store.runs("w1") == [] and await store.models("w1") == []
    assert await store.pointer("w1") is None and await store.outcomes("w1") == []
    assert await store.pointer("w2") is not None
