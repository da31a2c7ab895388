"""The index in MongoDB (cluster mode, shared by every pod and ``tandem assistant`` worker):
one document per passage with its terms under a ``$text`` index (language ``none``: our own
terms, no engine stemming or stop words), ranked by textScore.

Standard operations only. A ``$search`` of several bare words is OR in MongoDB but AND in
the wire-protocol test server; quoted words are AND in both. So "all" sends quoted words,
and "any" asks once per term and adds the scores, which is what MongoDB's own OR sums."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from pymongo import ASCENDING, TEXT, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from .index import IndexedFile
from .passages import Passage, Query, split_passages, terms_of

PASSAGES = "knowledge_passages"
WORKSPACES = "knowledge_workspaces"
_SHOWN = {k: 1 for k in ("file_id", "doc_id", "path", "start_line", "end_line", "text")}
ANY_DEPTH = 4
"""Per term, this many times the page's end are read before the scores are added."""


class MongoIndex:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._passages = database[PASSAGES]
        self._workspaces = database[WORKSPACES]

    async def ensure_indexes(self) -> None:
        try:
            await self._passages.create_index([("terms", TEXT)], default_language="none")
        except OperationFailure:
            # The wire-protocol server refuses to create a text index twice (MongoDB does
            # not): a text query that works says it is there.
            await self._passages.find_one({"$text": {"$search": "probe"}})
        await self._passages.create_index([("workspace_id", ASCENDING), ("file_id", ASCENDING)])

    async def aclose(self) -> None:
        """The database client belongs to the backends."""

    async def put(self, file: IndexedFile, text: str) -> None:
        spans = await asyncio.to_thread(split_passages, text)
        path_terms = terms_of(file.path)
        documents = [
            {
                "_id": f"{file.workspace_id}/{file.file_id}/{span.start_line}",
                "workspace_id": file.workspace_id,
                "file_id": file.file_id,
                "doc_id": file.doc_id,
                "path": file.path,
                "path_terms": path_terms,
                "start_line": span.start_line,
                "end_line": span.end_line,
                "text": span.text,
                # The path twice: a match in the file's name weighs more, as in SQLite.
                "terms": f"{path_terms} {path_terms} {terms_of(span.text)}",
            }
            for span in spans
        ]
        # Replace in place, then drop the passages the text no longer has: a search at any
        # moment finds the file, old passages or new, never neither (a delete first left a
        # window where another pod's search saw the file missing).
        if documents:
            await self._passages.bulk_write(
                [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in documents],
                ordered=False,
            )
        await self._passages.delete_many(
            {
                "workspace_id": file.workspace_id,
                "file_id": file.file_id,
                "_id": {"$nin": [d["_id"] for d in documents]},
            }
        )

    async def remove(self, workspace_id: str, file_id: str) -> None:
        await self._passages.delete_many({"workspace_id": workspace_id, "file_id": file_id})

    async def move(self, workspace_id: str, file_id: str, path: str) -> None:
        path_terms = terms_of(path)
        cursor = self._passages.find(
            {"workspace_id": workspace_id, "file_id": file_id}, {"terms": 1, "path_terms": 1}
        )
        async for document in cursor:
            old = f"{document['path_terms']} {document['path_terms']} "
            body = document["terms"].removeprefix(old)
            await self._passages.update_one(
                {"_id": document["_id"]},
                {
                    "$set": {
                        "path": path,
                        "path_terms": path_terms,
                        "terms": f"{path_terms} {path_terms} {body}",
                    }
                },
            )

    async def remove_workspace(self, workspace_id: str) -> None:
        await self._passages.delete_many({"workspace_id": workspace_id})
        await self._workspaces.delete_one({"_id": workspace_id})

    async def _ranked(
        self, workspace_id: str, search: str, limit: int, skip: int = 0
    ) -> list[dict[str, Any]]:
        cursor = (
            self._passages.find(
                {"workspace_id": workspace_id, "$text": {"$search": search}},
                {"score": {"$meta": "textScore"}, **_SHOWN},
            )
            .sort([("score", {"$meta": "textScore"})])
            .skip(skip)
            .limit(limit)
        )
        return await cursor.to_list()

    async def search(
        self, workspace_id: str, query: Query, *, limit: int, offset: int = 0
    ) -> list[Passage]:
        if not query.words or limit < 1:
            return []
        offset = max(0, offset)
        if query.match_all:
            phrases = " ".join(f'"{word.whole}"' for word in query.words)
            found = await self._ranked(workspace_id, phrases, limit, offset)
            return [_passage(d, float(d.get("score", 0.0))) for d in found]
        depth = (offset + limit) * ANY_DEPTH
        per_term = await asyncio.gather(
            *(self._ranked(workspace_id, term, depth) for term in query.terms)
        )
        scores: dict[str, float] = defaultdict(float)
        documents: dict[str, dict[str, Any]] = {}
        for found in per_term:
            for document in found:
                scores[document["_id"]] += float(document.get("score", 0.0))
                documents[document["_id"]] = document
        best = sorted(scores, key=lambda key: (-scores[key], key))[offset : offset + limit]
        return [_passage(documents[key], scores[key]) for key in best]

    async def files(self, workspace_id: str) -> dict[str, str]:
        cursor = self._passages.find(
            {"workspace_id": workspace_id}, {"file_id": 1, "path": 1, "_id": 0}
        )
        return {d["file_id"]: d["path"] async for d in cursor}

    async def complete(self, workspace_id: str) -> bool:
        return await self._workspaces.find_one({"_id": workspace_id}) is not None

    async def mark_complete(self, workspace_id: str) -> None:
        await self._workspaces.update_one(
            {"_id": workspace_id}, {"$set": {"complete": True}}, upsert=True
        )


def _passage(document: dict[str, Any], score: float) -> Passage:
    return Passage(
        document["file_id"],
        document["doc_id"],
        document["path"],
        int(document["start_line"]),
        int(document["end_line"]),
        document["text"],
        score,
    )
