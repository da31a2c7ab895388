"""Threads in a SQLite file (the embedded default), on the house's one connection behind a
lock; each row is the record's JSON beside its indexed columns. A message's seq is the
thread's greatest plus one, taken in the transaction that inserts it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sync.sqlite_file import SqliteFile

from .changes import checked
from .store import MARKS, MESSAGE_UPDATABLE, THREAD_UPDATABLE, Message, Thread

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assistant_threads (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    doc_id TEXT,
    updated_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assistant_threads_by_ws
    ON assistant_threads (workspace_id, updated_at);
CREATE TABLE IF NOT EXISTS assistant_messages (
    id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (thread_id, seq)
);
CREATE INDEX IF NOT EXISTS assistant_messages_by_ws ON assistant_messages (workspace_id);
"""


def _transaction(work: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
    def run(db: sqlite3.Connection) -> T:
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    return run


def _data(db: sqlite3.Connection, table: str, row_id: str) -> dict[str, Any] | None:
    row = db.execute(f"SELECT data FROM {table} WHERE id = ?", (row_id,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def _put_thread(db: sqlite3.Connection, thread: Thread) -> None:
    db.execute(
        "UPDATE assistant_threads SET updated_at = ?, data = ? WHERE id = ?",
        (thread.updated_at, json.dumps(thread.to_dict()), thread.id),
    )


class SqliteThreads(SqliteFile):
    """Messages are what people wrote: the default, synchronous FULL, keeps each one."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

    async def create_thread(self, thread: Thread) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO assistant_threads VALUES (?, ?, ?, ?, ?)",
                (
                    thread.id,
                    thread.workspace_id,
                    thread.doc_id,
                    thread.updated_at,
                    json.dumps(thread.to_dict()),
                ),
            )
        )

    async def get_thread(self, thread_id: str) -> Thread | None:
        data = await self._run(lambda db: _data(db, "assistant_threads", thread_id))
        return None if data is None else Thread.from_dict(data)

    async def threads(
        self,
        workspace_id: str,
        *,
        doc_id: str | None = None,
        before: float | None = None,
        limit: int = 50,
    ) -> list[Thread]:
        if limit < 1:
            return []  # SQLite reads a negative limit as none
        sql = "SELECT data FROM assistant_threads WHERE workspace_id = ?"
        params: list[Any] = [workspace_id]
        if doc_id is not None:
            sql += " AND doc_id = ?"
            params.append(doc_id)
        if before is not None:
            sql += " AND updated_at < ?"
            params.append(before)
        sql += " ORDER BY updated_at DESC, id DESC LIMIT ?"
        params.append(limit)
        rows = await self._run(lambda db: db.execute(sql, params).fetchall())
        return [Thread.from_dict(json.loads(row[0])) for row in rows]

    async def update_thread(self, thread_id: str, changes: dict[str, Any]) -> Thread | None:
        stored = checked(changes, THREAD_UPDATABLE)

        def work(db: sqlite3.Connection) -> Thread | None:
            data = _data(db, "assistant_threads", thread_id)
            if data is None:
                return None
            thread = Thread.from_dict({**data, **stored})
            _put_thread(db, thread)
            return thread

        return await self._run(_transaction(work))

    async def add_message(self, message: Message) -> Message:
        def work(db: sqlite3.Connection) -> Message:
            existing = _data(db, "assistant_messages", message.id)
            if existing is not None:
                return Message.from_dict(existing)
            thread = _data(db, "assistant_threads", message.thread_id)
            if thread is None:
                raise ValueError(f"no thread {message.thread_id}")
            (last,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM assistant_messages WHERE thread_id = ?",
                (message.thread_id,),
            ).fetchone()
            added = message.with_(seq=int(last) + 1)
            db.execute(
                "INSERT INTO assistant_messages VALUES (?, ?, ?, ?, ?)",
                (
                    added.id,
                    added.thread_id,
                    added.workspace_id,
                    added.seq,
                    json.dumps(added.to_dict()),
                ),
            )
            _put_thread(db, Thread.from_dict({**thread, "updated_at": added.created_at}))
            return added

        return await self._run(_transaction(work))

    async def get_message(self, message_id: str) -> Message | None:
        data = await self._run(lambda db: _data(db, "assistant_messages", message_id))
        return None if data is None else Message.from_dict(data)

    async def update_message(self, message_id: str, changes: dict[str, Any]) -> Message | None:
        stored = checked(changes, MESSAGE_UPDATABLE)

        def work(db: sqlite3.Connection) -> Message | None:
            data = _data(db, "assistant_messages", message_id)
            if data is None:
                return None
            message = Message.from_dict({**data, **stored})
            db.execute(
                "UPDATE assistant_messages SET data = ? WHERE id = ?",
                (json.dumps(message.to_dict()), message_id),
            )
            return message

        return await self._run(_transaction(work))

    async def mark(
        self, message_id: str, name: str, user_id: str, value: str | None, *, at: float
    ) -> Message | None:
        assert name in MARKS, name

        def work(db: sqlite3.Connection) -> Message | None:
            data = _data(db, "assistant_messages", message_id)
            if data is None:
                return None
            values = dict(data.get(name) or {})
            times = dict(data.get(f"{name}_at") or {})
            if value is None:
                values.pop(user_id, None)
                times.pop(user_id, None)
            else:
                values[user_id] = value
                times[user_id] = at
            message = Message.from_dict({**data, name: values, f"{name}_at": times, "judged": True})
            db.execute(
                "UPDATE assistant_messages SET data = ? WHERE id = ?",
                (json.dumps(message.to_dict()), message_id),
            )
            return message

        return await self._run(_transaction(work))

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[Message]:
        rows = await self._run(
            lambda db: db.execute(
                f"SELECT data FROM assistant_messages WHERE {where}", params
            ).fetchall()
        )
        return [Message.from_dict(json.loads(row[0])) for row in rows]

    async def judged(self, workspace_id: str) -> list[Message]:
        return await self._select(
            "workspace_id = ? AND json_extract(data, '$.judged')", (workspace_id,)
        )

    async def judged_workspaces(self) -> list[str]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT DISTINCT workspace_id FROM assistant_messages"
                " WHERE json_extract(data, '$.judged') ORDER BY workspace_id"
            ).fetchall()
        )
        return [row[0] for row in rows]

    async def replies(self, thread_id: str, message_id: str) -> list[Message]:
        return await self._select(
            "thread_id = ? AND json_extract(data, '$.reply_to') = ? ORDER BY seq",
            (thread_id, message_id),
        )

    async def messages(
        self, thread_id: str, *, before_seq: int | None = None, limit: int = 50
    ) -> list[Message]:
        if limit < 1:
            return []
        newest = await self._select(
            "thread_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            (thread_id, before_seq if before_seq is not None else 2**63 - 1, limit),
        )
        return newest[::-1]

    async def delete_workspace(self, workspace_id: str) -> int:
        def work(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM assistant_messages WHERE workspace_id = ?", (workspace_id,))
            cursor = db.execute(
                "DELETE FROM assistant_threads WHERE workspace_id = ?", (workspace_id,)
            )
            return int(cursor.rowcount)

        return await self._run(_transaction(work))
