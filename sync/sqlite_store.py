"""The embedded document store: one SQLite file in the data directory.

WAL mode with ``synchronous=NORMAL``: a commit survives ``kill -9`` of the process (the WAL is in
the OS page cache) though not a power cut; ``TANDEM_SQLITE_SYNCHRONOUS=FULL`` buys that too.
Compaction is one transaction (insert snapshot, delete folded entries), so it is atomic.
WAL checkpoints (which fsync) run on a thread of their own instead of inside an append. With
``FULL`` every commit also waits for an fsync, on the event loop's thread: the price of
surviving a power cut is then paid by every document of the process.

Under appends that never pause, a passive checkpoint never catches up with the WAL, so SQLite
never restarts it and the file grows without end (160 MB in 20 s at 2,000 appends/s). Past
``wal_limit_bytes`` the checkpointer holds commits back (appends wait, the loop runs on) for
one checkpoint that empties and truncates the WAL. That hold, about 75 ms here, is every
update's latency for its moment, so the limit is large: at 2,000 appends/s it comes every
two minutes or so; at lighter loads the WAL restarts on its own and it never comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import Self

from . import metrics
from .merging import merge
from .store import LoadedDoc, LogStats, StoreError
from .types import DocId, LogId, Origin, Update

log = logging.getLogger(__name__)

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

_INSERT = "INSERT INTO updates (doc_id, origin, data, created) VALUES (?, ?, ?, ?)"


class SqliteStore:
    """Everything runs on the event loop's thread, on one connection, except WAL checkpoints
    (which fsync); a compaction merges in rounds (``merging``). A WAL commit without fsync is
    one write() to the page cache, cheaper than handing each update to a thread and back (GIL
    hand-offs), and one connection means compaction never waits on another's lock.

    ``append_now`` commits in its caller's step (``ImmediateAppend``); rooms use it for the
    updates clients send. Of ``append``'s calls, the first of a turn of the loop commits at
    once too, and later ones in the same turn share one transaction, committed in the next
    turn, so a burst of server changes costs two commits per turn, not one per update."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "NORMAL",
        checkpoint_interval_s: float = 2.0,
        wal_limit_bytes: int = 1024 * 1024 * 1024,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # Every commit writes whole pages to the WAL, and an append touches three (the row,
        # the per-document index, the id sequence): 1 KiB pages write a third as much as the
        # default 4 KiB. Only a new file takes it.
        self._db.execute("PRAGMA page_size=1024")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        self._compacting: set[DocId] = set()
        self._checkpoint_interval_s = checkpoint_interval_s
        self._checkpointer: asyncio.Task[None] | None = None
        self._db.execute("PRAGMA busy_timeout=5000")
        self._pending: list[tuple[str, str, bytes, float]] = []
        self._waiting: list[asyncio.Future[int]] = []
        self._wal_limit_bytes = wal_limit_bytes
        self._committed_this_turn = False
        self._writable = asyncio.Event()
        self._writable.set()

    async def __aenter__(self) -> Self:
        self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoint_loop())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _checkpoint_loop(self) -> None:
        checkpointer = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        # A truncation waits this long at most for another process's reader (say `tandem
        # finetune` reading documents) while appends are held; busy, it tries next period.
        checkpointer.execute("PRAGMA busy_timeout=100")
        wal = self._path.with_name(self._path.name + "-wal")
        try:
            while True:
                await asyncio.sleep(self._checkpoint_interval_s)
                try:
                    # PASSIVE never blocks the appends on the loop thread.
                    await asyncio.to_thread(checkpointer.execute, "PRAGMA wal_checkpoint(PASSIVE)")
                    with contextlib.suppress(FileNotFoundError):
                        if wal.stat().st_size > self._wal_limit_bytes:
                            await self._truncate_wal(checkpointer)
                except sqlite3.Error:
                    # Appends stay safe in the WAL; the next period tries again.
                    log.warning("checkpointing %s failed", self._path.name, exc_info=True)
        finally:
            checkpointer.close()

    async def _truncate_wal(self, checkpointer: sqlite3.Connection) -> None:
        """A checkpoint that takes the write lock: appends queue up meanwhile instead of
        blocking the loop thread on that lock."""
        self._writable.clear()
        try:
            with metrics.WAL_TRUNCATIONS.time():
                await asyncio.to_thread(checkpointer.execute, "PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._writable.set()
            if self._pending:
                self._commit_pending()

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

    def can_append_now(self) -> bool:
        return not self._pending and self._writable.is_set()

    def append_now(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
        try:
            # One statement outside a transaction commits on its own: fewer round trips
            # into SQLite than BEGIN, INSERT, COMMIT and a query for the rowid.
            cursor = self._db.execute(_INSERT, (doc_id, origin, update, time.time()))
        except sqlite3.Error as exc:
            raise StoreError(f"append: {exc}") from exc
        return LogId(str(cursor.lastrowid))

    async def append(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
        loop = asyncio.get_running_loop()
        if not self._committed_this_turn and self.can_append_now():
            self._committed_this_turn = True
            loop.call_soon(self._next_turn)
            return self.append_now(doc_id, update, origin)
        row = (doc_id, origin, update, time.time())
        future: asyncio.Future[int] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._commit_pending)
        self._pending.append(row)
        self._waiting.append(future)
        return LogId(str(await future))

    def _next_turn(self) -> None:
        self._committed_this_turn = False

    def _insert(self, rows: list[tuple[str, str, bytes, float]]) -> int:
        """Commits ``rows`` in one transaction; returns the seq of the last."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(_INSERT, rows)
            # AUTOINCREMENT hands one writer's rows consecutive seqs after the last one.
            return int(self._db.execute("SELECT last_insert_rowid()").fetchone()[0])

    def _commit_pending(self) -> None:
        if not self._writable.is_set() or not self._pending:
            return  # the WAL's truncation commits these when it is done
        rows, self._pending = self._pending, []
        futures, self._waiting = self._waiting, []
        try:
            last = self._insert(rows)
        except sqlite3.Error as exc:
            for future in futures:
                if not future.done():
                    future.set_exception(StoreError(f"append: {exc}"))
            return
        for seq, future in enumerate(futures, start=last - len(futures) + 1):
            if not future.done():
                future.set_result(seq)

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
            merged = await merge(loaded.updates)
            upto = int(loaded.last_id)
            await self._writable.wait()  # not while a WAL truncation holds the write lock
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
        self._writable.set()
        if self._pending:
            self._commit_pending()
        self._db.close()
