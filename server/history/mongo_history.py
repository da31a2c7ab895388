"""Edit history in MongoDB (cluster mode): every pod writes the sessions of its own peers.
Standard operations only, so real MongoDB and the wire-protocol test server behave alike."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne

from .store import Point, Session

SESSIONS = "history_sessions"
POINTS = "history_points"


def _out(document: dict[str, Any], *, text: bool = True) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "_id" and (text or k != "text")}


class MongoHistory:
    def __init__(self, db: Any) -> None:
        self._sessions = db[SESSIONS]
        self._points = db[POINTS]

    async def ensure_indexes(self) -> None:
        await self._sessions.create_index([("doc_id", ASCENDING), ("start", DESCENDING)])
        await self._sessions.create_index([("workspace_id", ASCENDING)])
        await self._points.create_index([("doc_id", ASCENDING), ("at", DESCENDING)])
        await self._points.create_index([("workspace_id", ASCENDING)])

    async def aclose(self) -> None:
        """The database client belongs to the backends."""

    async def save_sessions(self, sessions: list[Session]) -> None:
        if sessions:
            await self._sessions.bulk_write(
                [ReplaceOne({"_id": s["id"]}, {"_id": s["id"], **s}, upsert=True) for s in sessions]
            )

    async def sessions(self, doc_id: str, *, limit: int = 200) -> list[Session]:
        cursor = (
            self._sessions.find({"doc_id": doc_id})
            .sort([("start", DESCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [_out(d) for d in await cursor.to_list(None)]

    async def add_point(self, point: Point) -> None:
        await self._points.replace_one(
            {"_id": point["id"]}, {"_id": point["id"], **point}, upsert=True
        )

    async def points(self, doc_id: str) -> list[Point]:
        cursor = self._points.find({"doc_id": doc_id}, {"text": 0}).sort(
            [("at", DESCENDING), ("_id", ASCENDING)]
        )
        return [_out(d, text=False) for d in await cursor.to_list(None)]

    async def point(self, doc_id: str, point_id: str) -> Point | None:
        document = await self._points.find_one({"_id": point_id, "doc_id": doc_id})
        return None if document is None else _out(document)

    async def delete_points(self, doc_id: str, point_ids: list[str]) -> None:
        if point_ids:
            await self._points.delete_many({"doc_id": doc_id, "_id": {"$in": point_ids}})

    async def delete_workspace(self, workspace_id: str) -> None:
        await self._sessions.delete_many({"workspace_id": workspace_id})
        await self._points.delete_many({"workspace_id": workspace_id})
