"""The embedded document store: one SQLite file in the data directory, fed by a front log.

An append is one copy into the front log (``front_log``), two files mapped into memory that
take turns: every ``turn_s`` (sooner past ``turn_bytes``) the store drains into SQLite what
the inactive file holds that no compaction has folded yet (one transaction, a few rows per
turn of the loop), empties it and makes it the active one. An update thus waits one to two
turns in the front log, and a document that compacts within that time (a busy one does,
every ``compact_entries``) never has its updates inserted into SQLite, only its snapshots.
Inserting every update, 100 ms after its append, cost 6-8% of the server's CPU per update at
50 busy documents (``bench/sync_bench.py``, before and after); in a 150 s run of that load,
no update was inserted at all.

The front log and SQLite both survive ``kill -9`` of the process (the page cache holds them)
though not a power cut; ``TANDEM_SQLITE_SYNCHRONOUS=FULL`` buys that too, with an ``msync``
per append, on the event loop's thread: the price of surviving a power cut is then paid by
every document of the process. A commit per update cost more than everything else the server
does for it together.

Drains stay on the event loop's thread: on a thread of their own, sqlite3 hands the GIL over
around every row it inserts, and those handovers cost the loop more than the inserts did.

Compaction is one transaction (insert snapshot, delete folded entries), so it is atomic. WAL
checkpoints (which fsync) run on a thread of their own. Under drains that never pause, a
passive checkpoint never catches up with the WAL, so SQLite never restarts it and the file
grows without end. Past ``wal_limit_bytes`` the checkpointer holds drains back (appends go
on into the front log) for one checkpoint that empties and truncates the WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from bisect import bisect_right
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Self

from . import metrics
from .front_log import FrontLog, FrontLogBusy, FrontLogWriteError, read_front_logs
from .merging import merge
from .store import DocState, LoadedDoc, LogStats, StoreError
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

_DRAIN_CHUNK = 32
"""Rows a drain inserts per turn of the loop."""

_INSERT = (
    "INSERT OR IGNORE INTO updates (seq, doc_id, origin, data, created) VALUES (?, ?, ?, ?, ?)"
)

Row = tuple[int, str, str, bytes, float]
"""seq, doc id, origin, update, created: as the updates table and the front log hold them."""


class SqliteStore:
    """Everything runs on the event loop's thread, on one connection, except WAL checkpoints
    (which fsync); a compaction merges in rounds (``merging``), a drain inserts in chunks.
    One write transaction at a time (``_write_lock``): a drain's spans turns of the loop.

    An append is one copy into the front log (``front_log``), made in its caller's step, so
    every append is immediate (``ImmediateAppend``) and none waits for a SQLite commit or a
    WAL truncation. The updates also wait in memory, by document and in order, until a drain
    has moved them to SQLite or a compaction has folded them into a snapshot. The owner of
    the front log hands out seqs; ``INSERT OR IGNORE`` makes replaying entries a crash left in
    both harmless.

    One process writes (``writer=True``, ``tandem serve``): it holds the front log's lock, and
    a second writer on the same file is refused at open. Readers (``tandem finetune``) take no
    lock and never write: they read the front log before SQLite, so they see every append the
    writer made, drained or not, even one a crashed writer left behind."""

    def __init__(
        self,
        path: Path,
        *,
        writer: bool = True,
        synchronous: str = "NORMAL",
        checkpoint_interval_s: float = 2.0,
        wal_limit_bytes: int = 1024 * 1024 * 1024,
        turn_s: float = 60.0,
        turn_bytes: int = 64 * 1024 * 1024,
        max_undrained_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # A drain writes whole pages to the WAL: 1 KiB pages write less for a small batch
        # than the default 4 KiB. Only a new file takes it.
        self._db.execute("PRAGMA page_size=1024")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        self._db.execute("PRAGMA busy_timeout=5000")
        self._write_lock = asyncio.Lock()
        self._compacting: set[DocId] = set()
        self._checkpoint_interval_s = checkpoint_interval_s
        self._checkpointer: asyncio.Task[None] | None = None
        self._wal_limit_bytes = wal_limit_bytes
        self._writable = asyncio.Event()
        self._writable.set()
        self._turn_s = turn_s
        self._turn_bytes = turn_bytes
        self._max_undrained_bytes = max_undrained_bytes
        self._turn_timer: asyncio.Handle | None = None
        self._draining: asyncio.Future[None] | None = None
        self._undrained: dict[DocId, list[Row]] = {}
        """Per document, in seq order: the appends neither drained nor folded by a compaction."""
        self._undrained_bytes = 0
        self._inactive_upto: int | None = None
        """The last seq the inactive front log file may hold; None while it is empty."""
        self._front: FrontLog | None = None
        if writer:
            try:
                self._front = FrontLog(path, fsync=synchronous.upper() in ("FULL", "EXTRA"))
            except FrontLogBusy as exc:
                self._db.close()
                raise StoreError(
                    f"{path} is in use by another process: is another tandem serve running on"
                    " the same data directory?"
                ) from exc
            self._recover(self._front)
        self._next_seq = self._last_seq() + 1

    def _recover(self, front: FrontLog) -> None:
        """Entries the last owner wrote and neither drained nor folded into a snapshot before
        it stopped: moved into SQLite here, before anything else runs. If that fails they wait
        for the first drain, as held by the inactive file (the active one may hold some too:
        a drain only ever empties the inactive one)."""
        records = front.read()
        if not records:
            return
        try:
            folded = dict(self._db.execute("SELECT doc_id, upto_seq FROM snapshots"))
            records = [r for r in records if r.seq > folded.get(r.doc_id, 0)]
            log.info("%s: recovering %d updates from the front log", self._path.name, len(records))
            self._insert(records)
        except sqlite3.Error:
            log.warning("%s: recovering the front log failed", self._path.name, exc_info=True)
            for record in records:
                self._undrained.setdefault(DocId(record.doc_id), []).append(record)
            self._undrained_bytes = sum(len(r.update) for r in records)
            self._inactive_upto = records[-1].seq if records else None
            return
        try:
            front.clear()
        except OSError:
            # What they hold is in SQLite too; replaying it at the next start is harmless.
            log.warning("%s: emptying the front log failed", self._path.name, exc_info=True)

    def _last_seq(self) -> int:
        (stored,) = self._db.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'updates'), 0),"
            " COALESCE((SELECT MAX(seq) FROM updates), 0),"
            " COALESCE((SELECT MAX(upto_seq) FROM snapshots), 0))"
        ).fetchone()
        return max([stored, *(rows[-1][0] for rows in self._undrained.values())])

    async def __aenter__(self) -> Self:
        if self.writer:  # a reader would hold the writer's drains back
            self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoint_loop())
            if self._undrained:  # a recovery that failed
                self._schedule_turn()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def writer(self) -> bool:
        return self._front is not None

    async def _checkpoint_loop(self) -> None:
        checkpointer = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        # A truncation waits this long at most for another process's reader (say `tandem
        # finetune` reading documents) while drains are held; busy, it tries next period.
        checkpointer.execute("PRAGMA busy_timeout=100")
        wal = self._path.with_name(self._path.name + "-wal")
        try:
            while True:
                await asyncio.sleep(self._checkpoint_interval_s)
                try:
                    # PASSIVE never blocks the drains on the loop thread.
                    await asyncio.to_thread(checkpointer.execute, "PRAGMA wal_checkpoint(PASSIVE)")
                    with contextlib.suppress(FileNotFoundError):
                        if wal.stat().st_size > self._wal_limit_bytes:
                            await self._truncate_wal(checkpointer)
                except sqlite3.Error:
                    # Drained updates stay safe in the WAL; the next period tries again.
                    log.warning("checkpointing %s failed", self._path.name, exc_info=True)
        finally:
            checkpointer.close()

    async def _truncate_wal(self, checkpointer: sqlite3.Connection) -> None:
        """A checkpoint that takes the write lock: drains wait meanwhile (appends go on into
        the front log) instead of holding the lock it needs."""
        self._writable.clear()
        try:
            if self._draining is not None:
                await asyncio.wait([self._draining])
            with metrics.WAL_TRUNCATIONS.time():
                await asyncio.to_thread(checkpointer.execute, "PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._writable.set()
            self._schedule_turn()  # the turn it held back

    async def load(self, doc_id: DocId) -> LoadedDoc:
        unstored = self._unstored(doc_id)  # before SQLite: a drain may move them meanwhile
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
        rows += [(row[0], row[3]) for row in _past(unstored, rows[-1][0] if rows else after)]
        updates = ([snap[0]] if snap else []) + [row[1] for row in rows]
        last = rows[-1][0] if rows else (after or None)
        return LoadedDoc(updates=updates, last_id=LogId(str(last)) if last else None)

    def _unstored(self, doc_id: DocId) -> list[Row]:
        """A document's appends that may not be in SQLite yet, in order: for the writer, those
        it has neither drained nor folded; for a reader, what the front log holds."""
        if self._front is not None:
            return list(self._undrained.get(doc_id, ()))
        try:
            records = read_front_logs(self._path)
        except OSError as exc:
            raise StoreError(f"read the front log of {self._path.name}: {exc}") from exc
        return [record for record in records if record.doc_id == doc_id]

    def can_append_now(self) -> bool:
        return True

    def append_now(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
        if self._front is None:
            raise StoreError(f"append: {self._path.name} was opened to read only")
        if self._undrained_bytes > self._max_undrained_bytes:
            raise StoreError(f"append: {self._undrained_bytes} bytes wait to reach SQLite")
        row: Row = (self._next_seq, doc_id, origin, update, time.time())
        try:
            active_bytes = self._front.write(*row)
        except FrontLogWriteError as exc:
            raise StoreError(f"append: {exc}") from exc
        self._next_seq += 1
        if (rows := self._undrained.get(doc_id)) is not None:
            rows.append(row)
        else:
            self._undrained[doc_id] = [row]
        self._undrained_bytes += len(update)
        if active_bytes >= self._turn_bytes:
            self._turn()
        elif self._turn_timer is None and self._draining is None:
            self._schedule_turn()
        return LogId(str(row[0]))

    async def append(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
        return self.append_now(doc_id, update, origin)

    def _turn(self) -> None:
        """Drain the inactive file, if it holds anything, then swap the files: the appends the
        active one holds wait one more turn, for compactions to fold them."""
        if self._inactive_upto is not None:  # so too while a drain is under way
            self._start_drain(then_swap=True)
            return
        self._cancel_turn()
        self._swap()
        self._schedule_turn()

    def _swap(self) -> None:
        """Make the other, empty, file the active one, if the active one holds anything."""
        assert self._front is not None and self._inactive_upto is None
        if self._front.active_bytes:
            self._front.swap()
            self._inactive_upto = self._next_seq - 1

    def _schedule_turn(self) -> None:
        """The next turn, ``turn_s`` from now, while either file holds anything."""
        if self._turn_timer is not None or self._front is None:
            return
        if self._inactive_upto is None and not self._front.active_bytes:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: aclose drains
            self._turn_timer = asyncio.get_running_loop().call_later(self._turn_s, self._turn)

    def _cancel_turn(self) -> None:
        if self._turn_timer is not None:
            self._turn_timer.cancel()
            self._turn_timer = None

    def _start_drain(self, *, then_swap: bool = False) -> None:
        """Move what the inactive front log file holds, and no compaction folded, into
        SQLite; if that file is empty, swap the files first, so the appends so far are what it
        holds, and appends made during the drain go to the other. ``_drained`` finishes, and
        swaps the files again with ``then_swap``. One drain at a time."""
        self._cancel_turn()
        if self._draining is not None or not self._writable.is_set():
            return  # the drain under way, or the WAL truncation, starts the next one
        if self._inactive_upto is None:
            self._swap()
            if self._inactive_upto is None:
                return  # both files are empty
        upto = self._inactive_upto
        batch = [row for rows in self._undrained.values() for row in rows[: _upto(rows, upto)]]
        loop = asyncio.get_running_loop()
        self._draining = loop.create_task(self._insert_in_chunks(batch))
        self._draining.add_done_callback(partial(self._drained, upto, len(batch), then_swap))

    async def _insert_in_chunks(self, rows: list[Row]) -> None:
        """One transaction, ``_DRAIN_CHUNK`` rows per turn of the loop. Readers on this
        connection see the rows before the commit; they are in ``_undrained`` too, and both
        ``load`` and ``stats`` count a seq once."""
        async with self._write_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for start in range(0, len(rows), _DRAIN_CHUNK):
                    if start:
                        await asyncio.sleep(0)  # a turn for the peers, not a wait
                    self._db.executemany(_INSERT, rows[start : start + _DRAIN_CHUNK])
                self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise

    def _insert(self, rows: list[Row]) -> None:
        """All at once: recovery, before anything else runs."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(_INSERT, rows)

    def _drained(self, upto: int, count: int, then_swap: bool, done: asyncio.Future[None]) -> None:
        self._draining = None
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None:
            # Left undrained, in the inactive file, for the next turn.
            log.warning("%s: draining the front log failed", self._path.name, exc_info=error)
            self._schedule_turn()
            return
        for doc_id in list(self._undrained):
            self._forget(doc_id, upto)
        metrics.LOG_DRAINS.observe(count)
        assert self._front is not None
        try:
            self._front.clear_inactive()
        except OSError:
            # What it holds is in SQLite too; replaying it at the next start is harmless.
            log.warning("%s: emptying the front log failed", self._path.name, exc_info=True)
        self._inactive_upto = None
        if then_swap:
            self._swap()
        self._schedule_turn()

    def _forget(self, doc_id: DocId, upto: int) -> None:
        """A document's undrained appends up to ``upto`` are in SQLite now, drained or folded."""
        rows = self._undrained.get(doc_id)
        if rows is None:
            return
        cut = _upto(rows, upto)
        if cut == 0:
            return
        self._undrained_bytes -= sum(len(row[3]) for row in rows[:cut])
        if cut == len(rows):
            del self._undrained[doc_id]
        else:
            del rows[:cut]

    async def drain(self) -> bool:
        """Move every update appended so far, that no compaction folded, into SQLite now;
        False if a drain failed (those stay in the front log, for a later one)."""
        while True:
            if self._draining is None:
                if not self._undrained:
                    return True
                await self._writable.wait()
                self._start_drain()
            if (draining := self._draining) is None:
                return not self._undrained
            await asyncio.wait([draining])  # _drained, called back first, has run
            if draining.cancelled() or draining.exception() is not None:
                return False

    async def stats(self, doc_id: DocId) -> LogStats:
        snap = self._db.execute(
            "SELECT upto_seq FROM snapshots WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        count, size, oldest, last = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0), MIN(created), MAX(seq)"
            " FROM updates WHERE doc_id = ? AND seq > ?",
            (doc_id, snap[0] if snap else 0),
        ).fetchone()
        undrained = _past(self._unstored(doc_id), last or 0)
        count += len(undrained)
        size += sum(len(row[3]) for row in undrained)
        if oldest is None and undrained:
            oldest = undrained[0][4]
        age = time.time() - oldest if oldest is not None else None
        return LogStats(entries=count, bytes=size, oldest_age_s=age)

    async def compact(self, doc_id: DocId, state: DocState | None = None) -> bool:
        """With ``state``, an open room's document, that is the snapshot: encoding it costs a
        fraction of merging the log it holds (``merging``), whose rounds each hold the loop for
        up to a millisecond."""
        if self._front is None:
            raise StoreError(f"compact {doc_id}: {self._path.name} was opened to read only")
        if doc_id in self._compacting:
            return False
        self._compacting.add(doc_id)
        try:
            if state is not None:
                snapshot, upto = state.update, int(state.upto)
            else:
                loaded = await self.load(doc_id)
                if loaded.last_id is None or len(loaded.updates) < 2:
                    return False
                snapshot, upto = await merge(loaded.updates), int(loaded.last_id)
            await self._writable.wait()  # not while a WAL truncation holds the write lock
            async with self._write_lock:
                try:
                    self._write_snapshot(doc_id, snapshot, upto)
                except sqlite3.Error as exc:
                    raise StoreError(f"compact {doc_id}: {exc}") from exc
            # Undrained entries the snapshot holds need not reach SQLite: their copies in the
            # front log go when their file turns, and a recovery skips them.
            self._forget(doc_id, upto)
            return True
        finally:
            self._compacting.discard(doc_id)

    def _write_snapshot(self, doc_id: DocId, merged: bytes, upto: int) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO snapshots (doc_id, data, upto_seq, created)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (doc_id) DO UPDATE SET"
                " data = excluded.data, upto_seq = excluded.upto_seq,"
                " created = excluded.created WHERE excluded.upto_seq > snapshots.upto_seq",
                (doc_id, merged, upto, time.time()),
            )
            self._db.execute("DELETE FROM updates WHERE doc_id = ? AND seq <= ?", (doc_id, upto))

    async def aclose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
            self._checkpointer = None
        self._writable.set()
        if self._front is not None:
            await self.drain()
        self._cancel_turn()
        if self._undrained:
            log.error(
                "%s: %d updates stay in the front log for the next start",
                self._path.name,
                sum(len(rows) for rows in self._undrained.values()),
            )
        elif self._front is not None:
            # All it holds is in SQLite, as rows or snapshots: the next start reads nothing.
            with contextlib.suppress(OSError):
                self._front.clear()
        if self._front is not None:
            self._front.close()
        self._db.close()


def _past(rows: list[Row], stored: int) -> list[Row]:
    """Those of a document's unstored ``rows`` that SQLite does not hold, given the last seq it
    holds for the document: drains commit in seq order, all of a batch at once, and a drain
    under way shows this connection an uncommitted prefix of its batch, so SQLite always holds
    a prefix of the document's log."""
    return rows[_upto(rows, stored) :]


def _upto(rows: list[Row], seq: int) -> int:
    """How many of a document's ``rows``, in seq order, come up to ``seq``."""
    return bisect_right(rows, seq, key=itemgetter(0))
