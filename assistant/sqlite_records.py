"""Records in a SQLite file (the embedded default): one connection on a worker thread behind a
lock, as the rest of the house does it; each record is JSON beside its indexed columns."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from sync.sqlite_file import SqliteFile

from .records import Decision, SuggestionRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assistant_suggestions (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assistant_suggestions_by_ws
    ON assistant_suggestions (workspace_id, created_at);
CREATE INDEX IF NOT EXISTS assistant_suggestions_by_set
    ON assistant_suggestions (json_extract(data, '$.set_id'));
CREATE INDEX IF NOT EXISTS assistant_suggestions_by_answer
    ON assistant_suggestions (json_extract(data, '$.answer_id'));
CREATE TABLE IF NOT EXISTS assistant_decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    suggestion_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assistant_decisions_by_suggestion
    ON assistant_decisions (suggestion_id, seq);
CREATE INDEX IF NOT EXISTS assistant_decisions_by_ws ON assistant_decisions (workspace_id);
CREATE TABLE IF NOT EXISTS assistant_workspaces (
    workspace_id TEXT PRIMARY KEY,
    instructions TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


class SqliteRecords(SqliteFile):
    def __init__(self, path: Path) -> None:
        # Records are analytics, not the document: surviving a process crash (WAL, NORMAL) is
        # enough, and an fsync per record would sit on the request path.
        super().__init__(path, _SCHEMA, synchronous="NORMAL")

    async def create(self, record: SuggestionRecord) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO assistant_suggestions VALUES (?, ?, ?, ?, ?)",
                (
                    record["id"],
                    record["workspace_id"],
                    record["doc_id"],
                    record["created_at"],
                    json.dumps(record),
                ),
            )
            return cursor.rowcount == 1

        return bool(await self._run(work))

    async def update(self, suggestion_id: str, fields: dict[str, Any]) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT data FROM assistant_suggestions WHERE id = ?", (suggestion_id,)
                ).fetchone()
                if row is not None:
                    data = {**json.loads(row[0]), **fields}
                    db.execute(
                        "UPDATE assistant_suggestions SET data = ? WHERE id = ?",
                        (json.dumps(data), suggestion_id),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        await self._run(work)

    async def decide(self, decision: Decision) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO assistant_decisions (suggestion_id, workspace_id, data)"
                " VALUES (?, ?, ?)",
                (decision["suggestion_id"], decision["workspace_id"], json.dumps(decision)),
            )

        await self._run(work)
        await self.update(
            decision["suggestion_id"],
            {
                "status": decision["action"],
                "decided_by": decision.get("user_id"),
                "decided_at": decision["at"],
            },
        )

    async def get(self, suggestion_id: str) -> SuggestionRecord | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT data FROM assistant_suggestions WHERE id = ?", (suggestion_id,)
            ).fetchone()
        )
        return None if row is None else dict(json.loads(row[0]))

    async def decisions(self, suggestion_id: str) -> list[Decision]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT data FROM assistant_decisions WHERE suggestion_id = ? ORDER BY seq",
                (suggestion_id,),
            ).fetchall()
        )
        return [json.loads(row[0]) for row in rows]

    async def for_workspace(
        self, workspace_id: str, *, since: float = 0.0, limit: int = 1000
    ) -> list[SuggestionRecord]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT data FROM assistant_suggestions WHERE workspace_id = ? AND created_at >= ?"
                " ORDER BY created_at, id LIMIT ?",
                (workspace_id, since, limit),
            ).fetchall()
        )
        return [json.loads(row[0]) for row in rows]

    async def with_source(
        self, *, set_id: str | None = None, answer_id: str | None = None
    ) -> list[SuggestionRecord]:
        field, value = ("set_id", set_id) if set_id is not None else ("answer_id", answer_id)
        rows = await self._run(
            lambda db: db.execute(
                f"SELECT data FROM assistant_suggestions WHERE json_extract(data, '$.{field}') = ?"
                " ORDER BY created_at, id",
                (value,),
            ).fetchall()
        )
        return [json.loads(row[0]) for row in rows]

    async def workspaces(self) -> list[str]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT DISTINCT workspace_id FROM assistant_suggestions ORDER BY workspace_id"
            ).fetchall()
        )
        return [row[0] for row in rows]

    async def delete_workspace(self, workspace_id: str) -> int:
        def work(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM assistant_decisions WHERE workspace_id = ?", (workspace_id,))
            db.execute("DELETE FROM assistant_workspaces WHERE workspace_id = ?", (workspace_id,))
            cursor = db.execute(
                "DELETE FROM assistant_suggestions WHERE workspace_id = ?", (workspace_id,)
            )
            return int(cursor.rowcount)

        return await self._run(work)

    async def instructions(self, workspace_id: str) -> str:
        row = await self._run(
            lambda db: db.execute(
                "SELECT instructions FROM assistant_workspaces WHERE workspace_id = ?",
                (workspace_id,),
            ).fetchone()
        )
        return "" if row is None else str(row[0])

    async def set_instructions(self, workspace_id: str, text: str, user_id: str) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO assistant_workspaces VALUES (?, ?, ?, ?) ON CONFLICT (workspace_id)"
                " DO UPDATE SET instructions = excluded.instructions,"
                " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                (workspace_id, text, user_id, time.time()),
            )
        )
