"""The learning store in a SQLite file (the embedded default): one connection on a worker
thread behind a lock, each record JSON beside its key columns."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from sync.sqlite_file import SqliteFile

from .store import ModelEntry, Outcome, Pointer, Run

_SCHEMA = """
CREATE TABLE IF NOT EXISTS learning_runs (
    workspace_id TEXT NOT NULL,
    day TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workspace_id, day)
);
CREATE TABLE IF NOT EXISTS learning_models (
    workspace_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workspace_id, model_id)
);
CREATE TABLE IF NOT EXISTS learning_pointers (
    workspace_id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS learning_outcomes (
    suggestion_id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    decided_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS learning_outcomes_by_ws
    ON learning_outcomes (workspace_id, decided_at, suggestion_id);
"""


class SqliteLearningStore(SqliteFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)  # the server and the CronJob share it

    async def _rows(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        rows = await self._run(lambda db: db.execute(sql, params).fetchall())
        return [json.loads(row[0]) for row in rows]

    # -- runs ----------------------------------------------------------------------------------
    async def claim_run(self, run: Run) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO learning_runs VALUES (?, ?, ?)",
                (run["workspace_id"], run["day"], json.dumps(run)),
            )
            return cursor.rowcount == 1

        return await self._run(work)

    async def run(self, workspace_id: str, day: str) -> Run | None:
        rows = await self._rows(
            "SELECT data FROM learning_runs WHERE workspace_id = ? AND day = ?",
            (workspace_id, day),
        )
        return rows[0] if rows else None

    async def save_run(self, run: Run) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO learning_runs VALUES (?, ?, ?)",
                (run["workspace_id"], run["day"], json.dumps(run)),
            )
        )

    async def runs(self, workspace_id: str) -> list[Run]:
        return await self._rows(
            "SELECT data FROM learning_runs WHERE workspace_id = ? ORDER BY day DESC",
            (workspace_id,),
        )

    # -- registry ------------------------------------------------------------------------------
    async def add_model(self, entry: ModelEntry) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO learning_models VALUES (?, ?,"
                " (SELECT COUNT(*) FROM learning_models), ?)",
                (entry["workspace_id"], entry["model_id"], json.dumps(entry)),
            )

        await self._run(work)

    async def models(self, workspace_id: str) -> list[ModelEntry]:
        return await self._rows(
            "SELECT data FROM learning_models WHERE workspace_id = ? ORDER BY seq",
            (workspace_id,),
        )

    async def pointer(self, workspace_id: str) -> Pointer | None:
        rows = await self._rows(
            "SELECT data FROM learning_pointers WHERE workspace_id = ?", (workspace_id,)
        )
        return rows[0] if rows else None

    async def save_pointer(self, pointer: Pointer) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO learning_pointers VALUES (?, ?)",
                (pointer["workspace_id"], json.dumps(pointer)),
            )
        )

    # -- outcomes ------------------------------------------------------------------------------
    async def save_outcome(self, outcome: Outcome) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO learning_outcomes VALUES (?, ?, ?, ?)",
                (
                    outcome["suggestion_id"],
                    outcome["workspace_id"],
                    float(outcome.get("decided_at") or 0.0),
                    json.dumps(outcome),
                ),
            )
        )

    async def outcomes(self, workspace_id: str) -> list[Outcome]:
        return await self._rows(
            "SELECT data FROM learning_outcomes WHERE workspace_id = ?"
            " ORDER BY decided_at, suggestion_id",
            (workspace_id,),
        )

    # -- privacy -------------------------------------------------------------------------------
    async def workspaces(self) -> list[str]:
        def work(db: sqlite3.Connection) -> list[str]:
            rows = db.execute(
                "SELECT workspace_id FROM learning_runs UNION SELECT workspace_id FROM"
                " learning_models UNION SELECT workspace_id FROM learning_pointers UNION"
                " SELECT workspace_id FROM learning_outcomes ORDER BY 1"
            ).fetchall()
            return [row[0] for row in rows]

        return await self._run(work)

    async def delete_workspace(self, workspace_id: str) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                for table in (
                    "learning_runs",
                    "learning_models",
                    "learning_pointers",
                    "learning_outcomes",
                ):
                    db.execute(f"DELETE FROM {table} WHERE workspace_id = ?", (workspace_id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        await self._run(work)
