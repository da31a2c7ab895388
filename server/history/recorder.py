"""The edit-history recorder: hears every durable client update (``Rooms`` update listener),
folds it into the sender's open edit session for that document in memory, and writes the
changed sessions in one batch every ``flush_s`` - typing never costs a database write per
keystroke. A pause longer than ``gap_s`` starts a new session. A document edited since its
last restore point gets a new one once the last is ``snapshot_s`` old; each document keeps
at most ``keep_points`` points, none older than ``retention_s``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any, Self

from pycrdt import Doc, Text

from server.access.directory import Directory
from server.access.models import new_id
from server.periodic import Periodic
from sync.changes import AppliedUpdate, change_size
from sync.rooms import Rooms
from sync.types import DocId

from . import metrics
from .retention import to_prune
from .store import HistoryStore, Point


@dataclass
class _Session:
    id: str
    doc_id: str
    workspace_id: str
    user_id: str | None
    username: str | None
    pod: str
    start: float
    end: float
    inserted: int = 0
    deleted: int = 0
    updates: int = 0
    kind: str = "edit"
    restored_from: str | None = None


@dataclass(frozen=True)
class HistoryLimits:
    flush_s: float = 5.0
    gap_s: float = 300.0
    snapshot_s: float = 600.0
    keep_points: int = 100
    retention_s: float = 90 * 24 * 3600.0


def read_text(doc: Doc) -> str:
    return str(doc.get("content", type=Text))


class HistoryRecorder:
    def __init__(
        self,
        store: HistoryStore,
        rooms: Rooms,
        directory: Directory,
        *,
        pod: str,
        limits: HistoryLimits,
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._directory = directory
        self._pod = pod
        self._limits = limits
        self._open: dict[tuple[str, str | None], _Session] = {}
        self._dirty: set[str] = set()
        self._edited: set[str] = set()
        self._last_point: dict[str, float] = {}
        self._workspaces: dict[str, str] = {}
        self._flushing = asyncio.Lock()
        self._periodic = Periodic(self.flush, limits.flush_s, "writing the edit history")

    async def __aenter__(self) -> Self:
        self._rooms.add_update_listener(self.on_updates)
        await self._periodic.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._periodic.__aexit__(*exc_info)
        with contextlib.suppress(Exception):
            await self.flush(points=False)  # what was typed last is not lost on shutdown

    # -- hearing updates (a batch every tenth of a second from the rooms) ----------------------

    def on_updates(self, batch: list[AppliedUpdate]) -> None:
        gap_s = self._limits.gap_s
        heard = 0
        for doc_id, peer, update, at in batch:
            if ":" in doc_id:
                continue  # companion documents (suggestions, trees) are written by the server
            owner: Any = peer.owner
            user_id = getattr(owner, "user_id", None)
            key = (doc_id, user_id)
            session = self._open.get(key)
            if session is None or at - session.end > gap_s:
                session = _Session(
                    id=new_id(),
                    doc_id=doc_id,
                    workspace_id=self._workspaces.get(doc_id, ""),
                    user_id=user_id,
                    username=getattr(owner, "username", None),
                    pod=self._pod,
                    start=at,
                    end=at,
                )
                self._open[key] = session
            inserted, deleted = change_size(update)
            session.end = at
            session.inserted += inserted
            session.deleted += deleted
            session.updates += 1
            heard += 1
            self._dirty.add(session.id)
            self._edited.add(doc_id)
        metrics.UPDATES.inc(heard)

    # -- writing ---------------------------------------------------------------------------------

    async def flush(self, *, points: bool = True) -> None:
        self._rooms.tell_listeners()  # the edits of the batch not yet told, too
        async with self._flushing:
            dirty, self._dirty = self._dirty, set()
            batch = [s for s in self._open.values() if s.id in dirty]
            try:
                for session in batch:
                    if not session.workspace_id:
                        session.workspace_id = await self._workspace_of(session.doc_id)
                # A document deleted meanwhile (or its workspace) leaves nothing behind.
                batch = [s for s in batch if s.workspace_id]
                if batch:
                    await self._store.save_sessions([asdict(s) for s in batch])
                    metrics.WRITES.inc()
            except BaseException:
                self._dirty |= dirty  # written next time
                raise
            now = time.time()
            for key, session in list(self._open.items()):
                if now - session.end > self._limits.gap_s and session.id not in self._dirty:
                    del self._open[key]
            if points:
                await self._timed_points(now)
            # What is remembered per document stays bounded by the documents in use.
            quiet = now - max(self._limits.snapshot_s, self._limits.gap_s) * 2
            for doc_id, at in list(self._last_point.items()):
                if at < quiet and doc_id not in self._edited:
                    del self._last_point[doc_id]
                    self._workspaces.pop(doc_id, None)

    async def _workspace_of(self, doc_id: str) -> str:
        if doc_id not in self._workspaces:
            record = await self._directory.doc(doc_id)
            self._workspaces[doc_id] = "" if record is None else str(record.workspace_id)
        return self._workspaces[doc_id]

    async def _timed_points(self, now: float) -> None:
        edited, self._edited = self._edited, set()
        for doc_id in edited:
            last = self._last_point.get(doc_id)
            if last is None or now - last >= self._limits.snapshot_s:
                # Due by what this pod knows: ask the store, since another pod whose peers
                # edit the same document may have taken one meanwhile.
                known = await self._store.points(doc_id)
                last = float(known[0]["at"]) if known else 0.0
                self._last_point[doc_id] = last
            if now - last < self._limits.snapshot_s:
                self._edited.add(doc_id)  # still edited: its point comes when one is due
                continue
            await self.take_point(doc_id, "timed")

    async def take_point(self, doc_id: str, reason: str) -> Point:
        text = await self._rooms.edit(DocId(doc_id), read_text)
        now = time.time()
        point: Point = {
            "id": new_id(),
            "doc_id": doc_id,
            "workspace_id": await self._workspace_of(doc_id),
            "at": now,
            "reason": reason,
            "size": len(text),
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "text": text,
        }
        await self._store.add_point(point)
        metrics.POINTS.labels(reason).inc()
        self._last_point[doc_id] = now
        await self._prune(doc_id, now)
        return point

    async def _prune(self, doc_id: str, now: float) -> None:
        old = to_prune(
            await self._store.points(doc_id),
            now=now,
            keep=self._limits.keep_points,
            retention_s=self._limits.retention_s,
        )
        if old:
            await self._store.delete_points(doc_id, old)

    async def record_restore(
        self, doc_id: str, owner: Any, point_id: str, inserted: int, deleted: int
    ) -> None:
        """A restore is a server-side edit: it gets a session of its own, written at once."""
        now = time.time()
        session = _Session(
            id=new_id(),
            doc_id=doc_id,
            workspace_id=await self._workspace_of(doc_id),
            user_id=getattr(owner, "user_id", None),
            username=getattr(owner, "username", None),
            pod=self._pod,
            start=now,
            end=now,
            inserted=inserted,
            deleted=deleted,
            updates=1,
            kind="restore",
            restored_from=point_id,
        )
        await self._store.save_sessions([asdict(session)])
        metrics.RESTORES.inc()
        self._edited.add(doc_id)

    def forget_workspace(self, workspace_id: str) -> None:
        """Drops what is held in memory for a workspace being deleted."""
        for key, session in list(self._open.items()):
            if session.workspace_id == workspace_id:
                del self._open[key]
                self._dirty.discard(session.id)
