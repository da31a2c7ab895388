"""The embedded document store: one SQLite file in the data directory.

WAL mode with ``synchronous=NORMAL``: a commit survives ``kill -9`` of the process (the WAL is in
the OS page cache) though not a power cut; ``TANDEM_SQLITE_SYNCHRONOUS=FULL`` buys that too.
Compaction is one transaction (insert snapshot, delete folded entries), so it is atomic.
WAL checkpoints (which fsync) run on a thread of their own instead of inside an append.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Self

from pycrdt import merge_updates

from .store import LoadedDoc, LogStats, StoreError
from .types import DocId, LogId, Origin, Update

_SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    data BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_by_doc ON updates (doc_id, seq);
CREATE TABLE IF NOT EXISTS snapshots (
    doc_id TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    upto_seq INTEGER NOT NULL,
    created REAL NOT NULL
);
"""


class SqliteStore:
    """All calls run on the event loop thread except the CPU-heavy merge of a compaction:
    single-row SQLite writes take tens of microseconds, less than a thread hop."""

    def __init__(
        self, path: Path, *, synchronous: str = "NORMAL", checkpoint_interval_s: float = 2.0
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        self._compacting: set[DocId] = set()
        self._checkpoint_interval_s = checkpoint_interval_s
        self._checkpointer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoint_loop())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _checkpoint_loop(self) -> None:
        checkpointer = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                await asyncio.sleep(self._checkpoint_interval_s)
                # PASSIVE never blocks the appends on the loop thread.
                await asyncio.to_thread(checkpointer.execute, "PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            checkpointer.close()

    async def load(self, doc_id: DocId) -> LoadedDoc:
        try:
            snap = self._db.execute(
                "SELECT data, upto_seq FROM snapshots WHERE doc_id = ?", (doc_id,)
            ).fetchone()
            after = snap[1] if snap else 0
            rows = self._db.execute(
                "SELECT seq, data FROM updates WHERE doc_id = ? AND seq > ? ORDER BY seq",
                (doc_id, after),
            ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"load {doc_id}: {exc}") from exc
        updates = ([snap[0]] if snap else []) + [row[1] for row in rows]
        last = rows[-1][0] if rows else (after or None)
        return LoadedDoc(updates=updates, last_id=LogId(str(last)) if last else None)

    async def append(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
        try:
            cur = self._db.execute(
                "INSERT INTO updates (doc_id, origin, data, created) VALUES (?, ?, ?, ?)",
                (doc_id, origin, update, time.time()),
            )
        except sqlite3.Error as exc:
            raise StoreError(f"append {doc_id}: {exc}") from exc
        return LogId(str(cur.lastrowid))

    async def stats(self, doc_id: DocId) -> LogStats:
        snap = self._db.execute(
            "SELECT upto_seq FROM snapshots WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        count, size, oldest = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0), MIN(created) FROM updates"
            " WHERE doc_id = ? AND seq > ?",
            (doc_id, snap[0] if snap else 0),
        ).fetchone()
        age = time.time() - oldest if oldest is not None else None
        return LogStats(entries=count, bytes=size, oldest_age_s=age)

    async def compact(self, doc_id: DocId) -> bool:
        if doc_id in self._compacting:
            return False
        self._compacting.add(doc_id)
        try:
            loaded = await self.load(doc_id)
            if loaded.last_id is None or len(loaded.updates) < 2:
                return False
            merged = await asyncio.to_thread(merge_updates, *loaded.updates)
            upto = int(loaded.last_id)
            try:
                with self._db:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._db.execute(
                        "INSERT INTO snapshots (doc_id, data, upto_seq, created)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (doc_id) DO UPDATE SET"
                        " data = excluded.data, upto_seq = excluded.upto_seq,"
                        " created = excluded.created WHERE excluded.upto_seq > snapshots.upto_seq",
                        (doc_id, merged, upto, time.time()),
                    )
                    self._db.execute(
                        "DELETE FROM updates WHERE doc_id = ? AND seq <= ?", (doc_id, upto)
                    )
            except sqlite3.Error as exc:
                raise StoreError(f"compact {doc_id}: {exc}") from exc
            return True
        finally:
            self._compacting.discard(doc_id)

    async def aclose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
            self._checkpointer = None
        self._db.close()
