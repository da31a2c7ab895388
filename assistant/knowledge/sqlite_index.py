"""The index in a SQLite file (the embedded default): FTS5 over each passage's terms and its
file's path (porter stemming over unicode61), ranked by bm25, beside a plain table of the
passages themselves; on the house's one connection behind a lock (sync/sqlite_file.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sync.sqlite_file import SqliteFile

from .index import IndexedFile
from .passages import Passage, Query, split_passages, terms_of

_SCHEMA = """
CREATE TABLE IF NOT EXISTS knowledge_passages (
    id INTEGER PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    path TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS knowledge_passages_by_file
    ON knowledge_passages (workspace_id, file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_fts
    USING fts5(path, body, tokenize = 'porter unicode61');
CREATE TABLE IF NOT EXISTS knowledge_workspaces (workspace_id TEXT PRIMARY KEY);
"""

PATH_WEIGHT = 2.0


def match_expression(query: Query) -> str:
    """FTS5 syntax from words of letters and digits only, each quoted: nothing a user typed
    can be an operator. All: every word (whole) must match; any: wholes or parts, OR'd."""
    if query.match_all:
        return " AND ".join(f'"{word.whole}"' for word in query.words)
    return " OR ".join(f'"{term}"' for term in query.terms)


def _remove(db: sqlite3.Connection, workspace_id: str, file_id: str) -> None:
    ids = [
        (row[0],)
        for row in db.execute(
            "SELECT id FROM knowledge_passages WHERE workspace_id = ? AND file_id = ?",
            (workspace_id, file_id),
        )
    ]
    db.executemany("DELETE FROM knowledge_fts WHERE rowid = ?", ids)
    db.executemany("DELETE FROM knowledge_passages WHERE id = ?", ids)


class SqliteIndex(SqliteFile):
    """An index can be rebuilt from the documents: synchronous NORMAL is enough."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA, synchronous="NORMAL")

    async def put(self, file: IndexedFile, text: str) -> None:
        spans = await asyncio.to_thread(split_passages, text)
        rows = [(s, terms_of(s.text)) for s in spans]
        path_terms = terms_of(file.path)

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                _remove(db, file.workspace_id, file.file_id)
                for span, terms in rows:
                    cursor = db.execute(
                        "INSERT INTO knowledge_passages (workspace_id, file_id, doc_id, path,"
                        " start_line, end_line, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            file.workspace_id,
                            file.file_id,
                            file.doc_id,
                            file.path,
                            span.start_line,
                            span.end_line,
                            span.text,
                        ),
                    )
                    db.execute(
                        "INSERT INTO knowledge_fts (rowid, path, body) VALUES (?, ?, ?)",
                        (cursor.lastrowid, path_terms, terms),
                    )

        await self._run(write)

    async def remove(self, workspace_id: str, file_id: str) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                _remove(db, workspace_id, file_id)

        await self._run(write)

    async def move(self, workspace_id: str, file_id: str, path: str) -> None:
        path_terms = terms_of(path)

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "UPDATE knowledge_fts SET path = ? WHERE rowid IN (SELECT id FROM"
                    " knowledge_passages WHERE workspace_id = ? AND file_id = ?)",
                    (path_terms, workspace_id, file_id),
                )
                db.execute(
                    "UPDATE knowledge_passages SET path = ? WHERE workspace_id = ? AND file_id = ?",
                    (path, workspace_id, file_id),
                )

        await self._run(write)

    async def remove_workspace(self, workspace_id: str) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "DELETE FROM knowledge_fts WHERE rowid IN (SELECT id FROM"
                    " knowledge_passages WHERE workspace_id = ?)",
                    (workspace_id,),
                )
                db.execute("DELETE FROM knowledge_passages WHERE workspace_id = ?", (workspace_id,))
                db.execute(
                    "DELETE FROM knowledge_workspaces WHERE workspace_id = ?", (workspace_id,)
                )

        await self._run(write)

    async def search(
        self, workspace_id: str, query: Query, *, limit: int, offset: int = 0
    ) -> list[Passage]:
        if not query.words or limit < 1:
            return []
        expression = match_expression(query)

        def read(db: sqlite3.Connection) -> list[Passage]:
            rows = db.execute(
                "SELECT p.file_id, p.doc_id, p.path, p.start_line, p.end_line, p.text,"
                f" -bm25(knowledge_fts, {PATH_WEIGHT}, 1.0) AS score"
                " FROM knowledge_fts JOIN knowledge_passages p ON p.id = knowledge_fts.rowid"
                " WHERE knowledge_fts MATCH ? AND p.workspace_id = ?"
                " ORDER BY score DESC, p.id LIMIT ? OFFSET ?",
                (expression, workspace_id, limit, max(0, offset)),
            )
            return [Passage(*row) for row in rows]

        return await self._run(read)

    async def files(self, workspace_id: str) -> dict[str, str]:
        def read(db: sqlite3.Connection) -> dict[str, str]:
            rows = db.execute(
                "SELECT DISTINCT file_id, path FROM knowledge_passages WHERE workspace_id = ?",
                (workspace_id,),
            )
            return dict(rows.fetchall())

        return await self._run(read)

    async def complete(self, workspace_id: str) -> bool:
        def read(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT 1 FROM knowledge_workspaces WHERE workspace_id = ?", (workspace_id,)
            ).fetchone()
            return row is not None

        return await self._run(read)

    async def mark_complete(self, workspace_id: str) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO knowledge_workspaces VALUES (?)", (workspace_id,)
            )
        )
