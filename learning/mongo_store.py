"""The learning store in MongoDB (pymongo ``AsyncDatabase``): cluster mode, where the CronJob
writes runs and the registry and every assistant worker reads the registry. Standard
operations only, so real MongoDB and the wire-protocol test server behave alike."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from .store import ModelEntry, Outcome, Pointer, Run

RUNS = "learning_runs"
MODELS = "learning_models"
POINTERS = "learning_pointers"
OUTCOMES = "learning_outcomes"


def _out(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in ("_id", "seq")}


class MongoLearningStore:
    def __init__(self, db: Any) -> None:
        self._runs = db[RUNS]
        self._models = db[MODELS]
        self._pointers = db[POINTERS]
        self._outcomes = db[OUTCOMES]

    async def ensure_indexes(self) -> None:
        await self._runs.create_index([("workspace_id", ASCENDING), ("day", DESCENDING)])
        await self._models.create_index([("workspace_id", ASCENDING), ("seq", ASCENDING)])
        await self._outcomes.create_index([("workspace_id", ASCENDING), ("decided_at", ASCENDING)])

    async def aclose(self) -> None:
        """The database client belongs to whoever opened it."""

    # -- runs ----------------------------------------------------------------------------------
    async def claim_run(self, run: Run) -> bool:
        try:
            await self._runs.insert_one({"_id": f"{run['workspace_id']}/{run['day']}", **run})
        except DuplicateKeyError:
            return False  # the unique _id decides a race between two runs
        return True

    async def run(self, workspace_id: str, day: str) -> Run | None:
        document = await self._runs.find_one({"_id": f"{workspace_id}/{day}"})
        return None if document is None else _out(document)

    async def save_run(self, run: Run) -> None:
        key = f"{run['workspace_id']}/{run['day']}"
        await self._runs.replace_one({"_id": key}, {"_id": key, **run}, upsert=True)

    async def runs(self, workspace_id: str) -> list[Run]:
        cursor = self._runs.find({"workspace_id": workspace_id}).sort("day", DESCENDING)
        return [_out(d) for d in await cursor.to_list(None)]

    # -- registry ------------------------------------------------------------------------------
    async def add_model(self, entry: ModelEntry) -> None:
        seq = await self._models.count_documents({})
        try:
            await self._models.insert_one(
                {"_id": f"{entry['workspace_id']}/{entry['model_id']}", "seq": seq, **entry}
            )
        except DuplicateKeyError:
            pass  # idempotent: the first registration stands

    async def models(self, workspace_id: str) -> list[ModelEntry]:
        cursor = self._models.find({"workspace_id": workspace_id}).sort("seq", ASCENDING)
        return [_out(d) for d in await cursor.to_list(None)]

    async def pointer(self, workspace_id: str) -> Pointer | None:
        document = await self._pointers.find_one({"_id": workspace_id})
        return None if document is None else _out(document)

    async def save_pointer(self, pointer: Pointer) -> None:
        key = pointer["workspace_id"]
        await self._pointers.replace_one({"_id": key}, {"_id": key, **pointer}, upsert=True)

    # -- outcomes ------------------------------------------------------------------------------
    async def save_outcome(self, outcome: Outcome) -> None:
        key = outcome["suggestion_id"]
        document = {"_id": key, **outcome, "decided_at": float(outcome.get("decided_at") or 0.0)}
        await self._outcomes.replace_one({"_id": key}, document, upsert=True)

    async def outcomes(self, workspace_id: str) -> list[Outcome]:
        cursor = self._outcomes.find({"workspace_id": workspace_id}).sort(
            [("decided_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_out(d) for d in await cursor.to_list(None)]

    # -- privacy -------------------------------------------------------------------------------
    async def workspaces(self) -> list[str]:
        found: set[str] = set()
        for collection in (self._runs, self._models, self._pointers, self._outcomes):
            found.update(await collection.distinct("workspace_id"))
        return sorted(found)

    async def delete_workspace(self, workspace_id: str) -> None:
        for collection in (self._runs, self._models, self._pointers, self._outcomes):
            await collection.delete_many({"workspace_id": workspace_id})
