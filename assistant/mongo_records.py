"""Records in MongoDB (pymongo's ``AsyncDatabase``): cluster mode, where pods write decisions
and workers write prompts and outputs. Standard operations only, so real MongoDB and the
wire-protocol test server behave alike."""

from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from .records import Decision, SuggestionRecord

SUGGESTIONS = "assistant_suggestions"
DECISIONS = "assistant_decisions"
WORKSPACES = "assistant_workspaces"


def _out(document: dict[str, Any]) -> dict[str, Any]:
    document = dict(document)
    document.pop("_id", None)
    return document


class MongoRecords:
    def __init__(self, db: Any) -> None:
        self._suggestions = db[SUGGESTIONS]
        self._decisions = db[DECISIONS]
        self._workspaces = db[WORKSPACES]

    async def ensure_indexes(self) -> None:
        await self._suggestions.create_index(
            [("workspace_id", ASCENDING), ("created_at", ASCENDING)]
        )
        await self._suggestions.create_index([("set_id", ASCENDING)])
        await self._suggestions.create_index([("answer_id", ASCENDING)])
        await self._decisions.create_index([("suggestion_id", ASCENDING), ("seq", ASCENDING)])
        await self._decisions.create_index([("workspace_id", ASCENDING)])

    async def aclose(self) -> None:
        """The database client belongs to the backends."""

    async def create(self, record: SuggestionRecord) -> bool:
        try:
            await self._suggestions.insert_one({"_id": record["id"], **record})
        except DuplicateKeyError:
            return False  # idempotent: the first write of a retried request stands
        return True

    async def update(self, suggestion_id: str, fields: dict[str, Any]) -> None:
        await self._suggestions.update_one({"_id": suggestion_id}, {"$set": dict(fields)})

    async def decide(self, decision: Decision) -> None:
        # A monotonic sequence per suggestion keeps decisions in order without server clocks.
        seq = await self._decisions.count_documents({"suggestion_id": decision["suggestion_id"]})
        await self._decisions.insert_one({**decision, "seq": seq})
        await self.update(
            decision["suggestion_id"],
            {
                "status": decision["action"],
                "decided_by": decision.get("user_id"),
                "decided_at": decision["at"],
            },
        )

    async def get(self, suggestion_id: str) -> SuggestionRecord | None:
        document = await self._suggestions.find_one({"_id": suggestion_id})
        return None if document is None else _out(document)

    async def decisions(self, suggestion_id: str) -> list[Decision]:
        cursor = self._decisions.find({"suggestion_id": suggestion_id}).sort(
            [("seq", ASCENDING), ("at", ASCENDING)]
        )
        documents = await cursor.to_list(None)
        return [{k: v for k, v in d.items() if k not in ("_id", "seq")} for d in documents]

    async def for_workspace(
        self, workspace_id: str, *, since: float = 0.0, limit: int = 1000
    ) -> list[SuggestionRecord]:
        cursor = (
            self._suggestions.find({"workspace_id": workspace_id, "created_at": {"$gte": since}})
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [_out(d) for d in await cursor.to_list(None)]

    async def with_source(
        self, *, set_id: str | None = None, answer_id: str | None = None
    ) -> list[SuggestionRecord]:
        query = {"set_id": set_id} if set_id is not None else {"answer_id": answer_id}
        cursor = self._suggestions.find(query).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return [_out(d) for d in await cursor.to_list(None)]

    async def workspaces(self) -> list[str]:
        return sorted(await self._suggestions.distinct("workspace_id"))

    async def delete_workspace(self, workspace_id: str) -> int:
        await self._decisions.delete_many({"workspace_id": workspace_id})
        await self._workspaces.delete_one({"_id": workspace_id})
        result = await self._suggestions.delete_many({"workspace_id": workspace_id})
        return int(result.deleted_count)

    async def instructions(self, workspace_id: str) -> str:
        document = await self._workspaces.find_one({"_id": workspace_id})
        return "" if document is None else str(document.get("instructions", ""))

    async def set_instructions(self, workspace_id: str, text: str, user_id: str) -> None:
        await self._workspaces.update_one(
            {"_id": workspace_id},
            {"$set": {"instructions": text, "updated_by": user_id, "updated_at": time.time()}},
            upsert=True,
        )
