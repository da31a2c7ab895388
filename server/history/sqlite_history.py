"""Edit history in a SQLite file (the embedded default): one connection on a worker thread
behind a lock; sessions are upserted in one transaction per batch."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sync.sqlite_file import SqliteFile

from .store import Point, Session

_SCHEMA = """
CREATE TABLE IF NOT EXISTS history_sessions (
    id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    start REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_sessions_by_doc ON history_sessions (doc_id, start);
CREATE INDEX IF NOT EXISTS history_sessions_by_ws ON history_sessions (workspace_id);
CREATE TABLE IF NOT EXISTS history_points (
    id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    at REAL NOT NULL,
    data TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_points_by_doc ON history_points (doc_id, at);
CREATE INDEX IF NOT EXISTS history_points_by_ws ON history_points (workspace_id);
"""


class SqliteHistory(SqliteFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

    async def save_sessions(self, sessions: list[Session]) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO history_sessions VALUES (?, ?, ?, ?, ?)",
                    [
                        (s["id"], s["doc_id"], s["workspace_id"], s["start"], json.dumps(s))
                        for s in sessions
                    ],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        if sessions:
            await self._run(work)

    async def sessions(self, doc_id: str, *, limit: int = 200) -> list[Session]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT data FROM history_sessions WHERE doc_id = ? ORDER BY start DESC, id"
                " LIMIT ?",
                (doc_id, limit),
            ).fetchall()
        )
        return [json.loads(row[0]) for row in rows]

    async def add_point(self, point: Point) -> None:
        meta = {k: v for k, v in point.items() if k != "text"}
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO history_points VALUES (?, ?, ?, ?, ?, ?)",
                (
                    point["id"],
                    point["doc_id"],
                    point["workspace_id"],
                    point["at"],
                    json.dumps(meta),
                    point["text"],
                ),
            )
        )

    async def points(self, doc_id: str) -> list[Point]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT data FROM history_points WHERE doc_id = ? ORDER BY at DESC, id",
                (doc_id,),
            ).fetchall()
        )
        return [json.loads(row[0]) for row in rows]

    async def point(self, doc_id: str, point_id: str) -> Point | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT data, text FROM history_points WHERE doc_id = ? AND id = ?",
                (doc_id, point_id),
            ).fetchone()
        )
        return None if row is None else {**json.loads(row[0]), "text": row[1]}

    async def delete_points(self, doc_id: str, point_ids: list[str]) -> None:
        await self._run(
            lambda db: db.executemany(
                "DELETE FROM history_points WHERE doc_id = ? AND id = ?",
                [(doc_id, pid) for pid in point_ids],
            )
        )

    async def delete_workspace(self, workspace_id: str) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM history_sessions WHERE workspace_id = ?", (workspace_id,))
            db.execute("DELETE FROM history_points WHERE workspace_id = ?", (workspace_id,))

        await self._run(work)
