"""Tree metadata in a SQLite file: the embedded default. Calls run on a worker thread behind
one lock (the house pattern of server/access/sqlite_directory.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Self, TypeVar

from .entries import Entry, Kind
from .errors import EntryNotFoundError, NameTakenError

T = TypeVar("T")

_COLUMNS = (
    "id, workspace_id, parent_id, name, kind, created_by, created_at, modified_by, "
    "modified_at, size, content_type, doc_id, object_key, trashed_at, trashed_by"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    modified_by TEXT NOT NULL,
    modified_at REAL NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    content_type TEXT,
    doc_id TEXT,
    object_key TEXT,
    trashed_at REAL,
    trashed_by TEXT,
    slot TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS entries_unique_name ON entries (workspace_id, parent_id, slot);
CREATE INDEX IF NOT EXISTS entries_by_workspace ON entries (workspace_id);
CREATE INDEX IF NOT EXISTS entries_by_doc ON entries (doc_id) WHERE doc_id IS NOT NULL;
"""


def _row(entry: Entry) -> tuple[object, ...]:
    return (
        entry.id,
        entry.workspace_id,
        entry.parent_id,
        entry.name,
        entry.kind.value,
        entry.created_by,
        entry.created_at,
        entry.modified_by,
        entry.modified_at,
        entry.size,
        entry.content_type,
        entry.doc_id,
        entry.object_key,
        entry.trashed_at,
        entry.trashed_by,
        entry.slot,
    )


def _entry(row: tuple[object, ...]) -> Entry:
    return Entry(
        id=str(row[0]),
        workspace_id=str(row[1]),
        parent_id=str(row[2]),
        name=str(row[3]),
        kind=Kind(str(row[4])),
        created_by=str(row[5]),
        created_at=float(row[6]),  # type: ignore[arg-type]
        modified_by=str(row[7]),
        modified_at=float(row[8]),  # type: ignore[arg-type]
        size=int(row[9]),  # type: ignore[call-overload]
        content_type=row[10],  # type: ignore[arg-type]
        doc_id=row[11],  # type: ignore[arg-type]
        object_key=row[12],  # type: ignore[arg-type]
        trashed_at=row[13],  # type: ignore[arg-type]
        trashed_by=row[14],  # type: ignore[arg-type]
    )


class SqliteTreeStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return work(self._db)

        return await asyncio.to_thread(locked)

    async def insert(self, entry: Entry) -> None:
        def insert(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    f"INSERT INTO entries ({_COLUMNS}, slot) VALUES ({'?, ' * 15}?)", _row(entry)
                )
            except sqlite3.IntegrityError:
                raise NameTakenError(f"{entry.name!r} already exists in that folder") from None

        await self._run(insert)

    async def save(self, entry: Entry) -> None:
        def update(db: sqlite3.Connection) -> None:
            names = [c.strip() for c in _COLUMNS.split(",")] + ["slot"]
            assignments = ", ".join(f"{name}=?" for name in names[2:])
            try:
                cursor = db.execute(
                    f"UPDATE entries SET {assignments} WHERE id=? AND workspace_id=?",
                    (*_row(entry)[2:], entry.id, entry.workspace_id),
                )
            except sqlite3.IntegrityError:
                raise NameTakenError(f"{entry.name!r} already exists in that folder") from None
            if cursor.rowcount == 0:
                raise EntryNotFoundError("no such entry")

        await self._run(update)

    async def get(self, workspace_id: str, entry_id: str) -> Entry | None:
        row = await self._run(
            lambda db: db.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE id=? AND workspace_id=?",
                (entry_id, workspace_id),
            ).fetchone()
        )
        return None if row is None else _entry(row)

    async def children(self, workspace_id: str, parent_id: str) -> list[Entry]:
        rows = await self._run(
            lambda db: db.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE workspace_id=? AND parent_id=? "
                "AND trashed_at IS NULL ORDER BY name, id",
                (workspace_id, parent_id),
            ).fetchall()
        )
        return [_entry(row) for row in rows]

    async def by_doc(self, workspace_id: str, doc_id: str) -> Entry | None:
        row = await self._run(
            lambda db: db.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE doc_id=? AND workspace_id=?",
                (doc_id, workspace_id),
            ).fetchone()
        )
        return None if row is None else _entry(row)

    async def all(self, workspace_id: str) -> list[Entry]:
        rows = await self._run(
            lambda db: db.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE workspace_id=? ORDER BY name, id",
                (workspace_id,),
            ).fetchall()
        )
        return [_entry(row) for row in rows]

    async def delete(self, workspace_id: str, entry_ids: list[str]) -> None:
        def delete(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.executemany(
                    "DELETE FROM entries WHERE id=? AND workspace_id=?",
                    [(entry_id, workspace_id) for entry_id in entry_ids],
                )

        await self._run(delete)

    async def usage(self, workspace_id: str) -> int:
        row = await self._run(
            lambda db: db.execute(
                "SELECT COALESCE(SUM(size), 0) FROM entries WHERE workspace_id=?",
                (workspace_id,),
            ).fetchone()
        )
        return int(row[0])

    async def delete_workspace(self, workspace_id: str) -> None:
        await self._run(
            lambda db: db.execute("DELETE FROM entries WHERE workspace_id=?", (workspace_id,))
        )
