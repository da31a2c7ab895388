"""Threads in MongoDB (pymongo's ``AsyncDatabase``): cluster mode, where every pod posts and
every worker answers. A thread's ``next_seq`` counter orders its messages; standard operations
only, so real MongoDB and the wire-protocol test server behave alike."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from .changes import checked
from .store import MARKS, MESSAGE_UPDATABLE, THREAD_UPDATABLE, Message, Thread

THREADS = "assistant_threads"
MESSAGES = "assistant_messages"


class MongoThreads:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._threads = database[THREADS]
        self._messages = database[MESSAGES]

    async def ensure_indexes(self) -> None:
        await self._threads.create_index([("workspace_id", ASCENDING), ("updated_at", ASCENDING)])
        await self._messages.create_index(
            [("thread_id", ASCENDING), ("seq", ASCENDING)], unique=True
        )
        await self._messages.create_index([("workspace_id", ASCENDING)])

    async def aclose(self) -> None:
        """The database client belongs to the backends."""

    async def create_thread(self, thread: Thread) -> None:
        try:
            await self._threads.insert_one({"_id": thread.id, **thread.to_dict(), "next_seq": 0})
        except DuplicateKeyError:
            pass  # idempotent: the first create of a retried request stands

    async def get_thread(self, thread_id: str) -> Thread | None:
        document = await self._threads.find_one({"_id": thread_id})
        return None if document is None else Thread.from_dict(document)

    async def threads(
        self,
        workspace_id: str,
        *,
        doc_id: str | None = None,
        before: float | None = None,
        limit: int = 50,
    ) -> list[Thread]:
        if limit < 1:
            return []  # MongoDB reads a limit of 0 as none
        query: dict[str, Any] = {"workspace_id": workspace_id}
        if doc_id is not None:
            query["doc_id"] = doc_id
        if before is not None:
            query["updated_at"] = {"$lt": before}
        cursor = (
            self._threads.find(query)
            .sort([("updated_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [Thread.from_dict(d) for d in await cursor.to_list(None)]

    async def update_thread(self, thread_id: str, changes: dict[str, Any]) -> Thread | None:
        stored = checked(changes, THREAD_UPDATABLE)
        if not stored:
            return await self.get_thread(thread_id)  # MongoDB refuses an empty $set
        document = await self._threads.find_one_and_update(
            {"_id": thread_id},
            {"$set": stored},
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else Thread.from_dict(document)

    async def add_message(self, message: Message) -> Message:
        if (stored := await self.get_message(message.id)) is not None:
            return stored
        # The counter and the thread's time move together: the last seq sets updated_at.
        thread = await self._threads.find_one_and_update(
            {"_id": message.thread_id},
            {"$inc": {"next_seq": 1}, "$set": {"updated_at": message.created_at}},
            return_document=ReturnDocument.AFTER,
        )
        if thread is None:
            raise ValueError(f"no thread {message.thread_id}")
        added = message.with_(seq=int(thread["next_seq"]))
        try:
            await self._messages.insert_one({"_id": added.id, **added.to_dict()})
        except DuplicateKeyError:
            # A concurrent add of the same message won; the seq taken here stays a gap.
            if (stored := await self.get_message(message.id)) is None:
                raise
            return stored
        return added

    async def get_message(self, message_id: str) -> Message | None:
        document = await self._messages.find_one({"_id": message_id})
        return None if document is None else Message.from_dict(document)

    async def update_message(self, message_id: str, changes: dict[str, Any]) -> Message | None:
        stored = checked(changes, MESSAGE_UPDATABLE)
        if not stored:
            return await self.get_message(message_id)
        document = await self._messages.find_one_and_update(
            {"_id": message_id},
            {"$set": stored},
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else Message.from_dict(document)

    async def mark(
        self, message_id: str, name: str, user_id: str, value: str | None, *, at: float
    ) -> Message | None:
        assert name in MARKS, name
        # One member's key alone: values of others landing at once are kept.
        keys = (f"{name}.{user_id}", f"{name}_at.{user_id}")
        change: dict[str, Any] = (
            {"$unset": dict.fromkeys(keys, ""), "$set": {"judged": True}}
            if value is None
            else {"$set": {keys[0]: value, keys[1]: at, "judged": True}}
        )
        document = await self._messages.find_one_and_update(
            {"_id": message_id}, change, return_document=ReturnDocument.AFTER
        )
        return None if document is None else Message.from_dict(document)

    async def judged(self, workspace_id: str) -> list[Message]:
        cursor = self._messages.find({"workspace_id": workspace_id, "judged": True})
        return [Message.from_dict(d) async for d in cursor]

    async def judged_workspaces(self) -> list[str]:
        return sorted(await self._messages.distinct("workspace_id", {"judged": True}))

    async def replies(self, thread_id: str, message_id: str) -> list[Message]:
        cursor = self._messages.find({"thread_id": thread_id, "reply_to": message_id})
        return [Message.from_dict(d) for d in await cursor.sort("seq", ASCENDING).to_list(None)]

    async def messages(
        self, thread_id: str, *, before_seq: int | None = None, limit: int = 50
    ) -> list[Message]:
        if limit < 1:
            return []
        query: dict[str, Any] = {"thread_id": thread_id}
        if before_seq is not None:
            query["seq"] = {"$lt": before_seq}
        cursor = self._messages.find(query).sort("seq", DESCENDING).limit(limit)
        return [Message.from_dict(d) for d in reversed(await cursor.to_list(None))]

    async def delete_workspace(self, workspace_id: str) -> int:
        await self._messages.delete_many({"workspace_id": workspace_id})
        result = await self._threads.delete_many({"workspace_id": workspace_id})
        return int(result.deleted_count)
