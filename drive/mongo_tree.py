"""Tree metadata in MongoDB (pymongo's AsyncMongoClient): cluster mode. One document per
entry in ``drive_entries``; a unique index on (workspace, parent, slot) decides which of two
pods creating the same name wins."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from pymongo.errors import DuplicateKeyError, PyMongoError

from .entries import Entry, Kind
from .errors import EntryNotFoundError, NameTakenError, TreeStoreError

COLLECTION = "drive_entries"


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    """Duplicate keys mean a taken name (handled where they can happen); anything else from
    MongoDB is an outage the API reports as 503, not a crash."""
    try:
        yield
    except DuplicateKeyError:
        raise
    except PyMongoError as exc:
        raise TreeStoreError(f"the tree store failed: {type(exc).__name__}") from exc


def _doc(entry: Entry) -> dict[str, Any]:
    return {
        "_id": entry.id,
        "workspace_id": entry.workspace_id,
        "parent_id": entry.parent_id,
        "name": entry.name,
        "kind": entry.kind.value,
        "created_by": entry.created_by,
        "created_at": entry.created_at,
        "modified_by": entry.modified_by,
        "modified_at": entry.modified_at,
        "size": entry.size,
        "content_type": entry.content_type,
        "doc_id": entry.doc_id,
        "object_key": entry.object_key,
        "trashed_at": entry.trashed_at,
        "trashed_by": entry.trashed_by,
        "slot": entry.slot,
    }


def _entry(doc: dict[str, Any]) -> Entry:
    return Entry(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        parent_id=doc["parent_id"],
        name=doc["name"],
        kind=Kind(doc["kind"]),
        created_by=doc["created_by"],
        created_at=float(doc["created_at"]),
        modified_by=doc["modified_by"],
        modified_at=float(doc["modified_at"]),
        size=int(doc.get("size") or 0),
        content_type=doc.get("content_type"),
        doc_id=doc.get("doc_id"),
        object_key=doc.get("object_key"),
        trashed_at=doc.get("trashed_at"),
        trashed_by=doc.get("trashed_by"),
    )


class MongoTreeStore:
    def __init__(self, db: Any) -> None:
        self._entries = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self._entries.create_index(
            [("workspace_id", 1), ("parent_id", 1), ("slot", 1)],
            unique=True,
            name="entries_unique_name",
        )
        await self._entries.create_index([("workspace_id", 1)], name="entries_by_workspace")
        await self._entries.create_index(
            [("doc_id", 1)],
            name="entries_by_doc",
            partialFilterExpression={"doc_id": {"$type": "string"}},
        )

    async def aclose(self) -> None:
        """The client belongs to the server's backends, which close it."""

    async def insert(self, entry: Entry) -> None:
        try:
            with _storage_errors():
                await self._entries.insert_one(_doc(entry))
        except DuplicateKeyError:
            raise NameTakenError(f"{entry.name!r} already exists in that folder") from None

    async def save(self, entry: Entry) -> None:
        fields = _doc(entry)
        del fields["_id"]
        try:
            with _storage_errors():
                result = await self._entries.update_one(
                    {"_id": entry.id, "workspace_id": entry.workspace_id}, {"$set": fields}
                )
        except DuplicateKeyError:
            raise NameTakenError(f"{entry.name!r} already exists in that folder") from None
        if result.matched_count == 0:
            raise EntryNotFoundError("no such entry")

    async def get(self, workspace_id: str, entry_id: str) -> Entry | None:
        with _storage_errors():
            doc = await self._entries.find_one({"_id": entry_id, "workspace_id": workspace_id})
        return None if doc is None else _entry(doc)

    async def by_doc(self, workspace_id: str, doc_id: str) -> Entry | None:
        with _storage_errors():
            doc = await self._entries.find_one({"doc_id": doc_id, "workspace_id": workspace_id})
        return None if doc is None else _entry(doc)

    async def children(self, workspace_id: str, parent_id: str) -> list[Entry]:
        query = {"workspace_id": workspace_id, "parent_id": parent_id, "trashed_at": None}
        with _storage_errors():
            return _sorted([_entry(doc) async for doc in self._entries.find(query)])

    async def all(self, workspace_id: str) -> list[Entry]:
        with _storage_errors():
            cursor = self._entries.find({"workspace_id": workspace_id})
            return _sorted([_entry(doc) async for doc in cursor])

    async def delete(self, workspace_id: str, entry_ids: list[str]) -> None:
        if entry_ids:
            with _storage_errors():
                await self._entries.delete_many(
                    {"workspace_id": workspace_id, "_id": {"$in": entry_ids}}
                )

    async def usage(self, workspace_id: str) -> int:
        with _storage_errors():
            cursor = await self._entries.aggregate(
                [
                    {"$match": {"workspace_id": workspace_id}},
                    {"$group": {"_id": None, "total": {"$sum": "$size"}}},
                ]
            )
            rows = await cursor.to_list()
        return int(rows[0]["total"]) if rows else 0

    async def delete_workspace(self, workspace_id: str) -> None:
        with _storage_errors():
            await self._entries.delete_many({"workspace_id": workspace_id})


def _sorted(entries: list[Entry]) -> list[Entry]:
    # Sorted here, not by the server: MongoDB and SQLite collate strings alike only for ASCII.
    return sorted(entries, key=lambda entry: (entry.name, entry.id))
