"""The registry of open rooms: single-flight loads, unload when empty, compaction, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Self, TypeVar

from pycrdt import Doc

from . import metrics
from .changes import AppliedUpdate, Heard
from .limits import AwarenessLimits, SyncLimits
from .peer import CloseCode, Peer
from .presence import ASK_FOR_PRESENCE, PresenceBus
from .room import Room, RoomState
from .store import DocumentStore, LogGap, LogTail, StoreError
from .types import DocId, LogId, Origin

log = logging.getLogger(__name__)

UpdateListener = Callable[[list[AppliedUpdate]], None]
ChangeListener = Callable[[DocId], None]
"""Hears client updates once they are durable, in batches (the server's edit history, its
files' sizes); must not raise."""

T = TypeVar("T")


class RoomUnavailableError(Exception):
    """The document could not be loaded (storage failed); nothing was written."""


class Rooms:
    """Owns every room and every background task of the sync layer. Use as an async context
    manager: leaving it closes all peers with ``shutdown_code`` and cancels what is left."""

    def __init__(
        self,
        store: DocumentStore,
        *,
        origin: Origin,
        limits: SyncLimits,
        tail: LogTail | None = None,
        presence: PresenceBus | None = None,
        awareness_limits: AwarenessLimits | None = None,
        sweep_interval_s: float = 1.0,
        tell_interval_s: float = 0.1,
    ) -> None:
        self._store = store
        self._awareness_limits = awareness_limits
        self._presence = presence
        if presence is not None:
            presence.listen(self._on_remote_presence)
        self._origin = origin
        self._limits = limits
        self._tail = tail
        self._sweep_interval_s = sweep_interval_s
        self._tell_interval_s = tell_interval_s
        self._rooms: dict[DocId, Room] = {}
        self.unloaded = 0
        """Rooms forgotten since the start (unloaded, dropped or failed to load)."""
        self._loads: dict[DocId, asyncio.Task[None]] = {}
        self._tails: dict[DocId, asyncio.Task[None]] = {}
        self._unload_timers: dict[DocId, asyncio.TimerHandle] = {}
        self._compacting: set[DocId] = set()
        self._compaction_slots = asyncio.Semaphore(limits.compactions_at_once)
        self._retry_compaction_at: dict[DocId, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._sweeper: asyncio.Task[None] | None = None
        self._tell_timer: asyncio.TimerHandle | None = None
        self._listeners: list[UpdateListener] = []
        self._change_listeners: list[ChangeListener] = []
        self._heard = Heard(self._tell_soon)
        metrics.LOG_UNCOMPACTED.set_function(
            lambda: sum(r.uncompacted_entries for r in self._rooms.values())
        )
        metrics.LOG_OLDEST_AGE.set_function(self._oldest_uncompacted_age)

    async def __aenter__(self) -> Self:
        self._sweeper = self._spawn(self._sweep())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose(CloseCode.GOING_AWAY, "server shutting down")

    def get(self, doc_id: DocId) -> Room | None:
        return self._rooms.get(doc_id)

    def add_update_listener(self, listener: UpdateListener) -> None:
        """``listener`` hears of every client update in every room once it is durable, with
        the peer that sent it (the server maps peers to users), in batches: every
        ``tell_interval_s`` after the first of a batch, and whenever someone calls
        ``tell_listeners``."""
        self._listeners.append(listener)

    def add_change_listener(self, listener: ChangeListener) -> None:
        """``listener`` hears, at once, the id of a document after a server-side change
        (``edit``) appended to its log; an edit that changed nothing is not heard, one that
        raced another append may be."""
        self._change_listeners.append(listener)

    def tell_listeners(self) -> None:
        """Hand every listener the client updates made durable since the last time, in order.
        A listener that raises misses this batch; the others hear it."""
        if not self._heard:
            return
        # The rooms hold this very list: copied and emptied, not replaced.
        batch = self._heard.copy()
        self._heard.clear()
        for listener in self._listeners:
            try:
                listener(batch)
            except Exception:
                log.exception("update listener %r failed", listener)

    def _tell_soon(self) -> None:
        # Soon, so each batch is small: folding a second of a busy pod's updates at once held
        # the loop for milliseconds, in front of the updates that came meanwhile.
        if self._tell_timer is None and not self._closed:
            loop = asyncio.get_running_loop()
            self._tell_timer = loop.call_later(self._tell_interval_s, self._told_on_time)

    def _told_on_time(self) -> None:
        self._tell_timer = None
        self.tell_listeners()

    # -- joining and leaving -------------------------------------------------------------------

    async def join(self, doc_id: DocId, peer: Peer) -> Room:
        room = await self._open(doc_id)
        room.add(peer)
        return room

    async def edit(self, doc_id: DocId, change: Callable[[Doc], T]) -> T:
        """Apply a server-side change (the assistant, an upload, a restore) to the document:
        appended durably, then relayed to every peer, like a client's update. The room is
        opened for it if nobody has it open, so the change can never race a concurrent load.
        ``change`` must validate before it mutates: a Yjs transaction cannot roll back."""
        room = await self._open(doc_id)
        before = room.last_id
        try:
            result = await room.apply_server_change(change)
        finally:
            self._unload_later(room)
        if room.last_id != before:
            for listener in self._change_listeners:
                try:
                    listener(doc_id)
                except Exception:
                    log.exception("change listener %r failed", listener)
        return result

    async def _open(self, doc_id: DocId) -> Room:
        if self._closed:
            raise RoomUnavailableError("shutting down")
        if (timer := self._unload_timers.pop(doc_id, None)) is not None:
            timer.cancel()
        room = self._rooms.get(doc_id)
        if room is None:
            room = Room(
                doc_id,
                self._store,
                self._origin,
                self._limits,
                self._presence,
                self._heard,
                self._awareness_limits,
            )
            self._rooms[doc_id] = room
            metrics.ROOMS.set(len(self._rooms))
            self._loads[doc_id] = self._spawn(self._load(room))
        if room.state is RoomState.LOADING:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._loads[doc_id])
        if room.state is not RoomState.OPEN:
            raise RoomUnavailableError(f"document {doc_id} could not be loaded")
        return room

    def leave(self, room: Room, peer: Peer) -> None:
        room.remove(peer)
        self._unload_later(room)

    def _unload_later(self, room: Room) -> None:
        if room.peers or room.state is not RoomState.OPEN or self._closed:
            return
        if room.doc_id in self._unload_timers:
            return
        loop = asyncio.get_running_loop()
        self._unload_timers[room.doc_id] = loop.call_later(
            self._limits.room_grace_s, self._unload_if_idle, room
        )

    async def _load(self, room: Room) -> None:
        try:
            await room.load()
            loaded_upto = room.last_id  # the tail starts here, whatever is appended meanwhile
        except Exception:
            # Nothing is written on a failed load: the room just disappears and the next
            # joiner tries again.
            log.exception("loading %s failed", room.doc_id)
            metrics.ROOM_LOADS.labels("error").inc()
            room.close(CloseCode.INTERNAL_ERROR, "could not load document")
            self._forget(room)
            raise
        finally:
            self._loads.pop(room.doc_id, None)
        metrics.ROOM_LOADS.labels("ok").inc()
        if self._presence is not None:
            try:
                await self._presence.watch(room.doc_id)
            except Exception:
                log.warning("cannot watch presence of %s", room.doc_id, exc_info=True)
        if self._tail is not None:
            self._tails[room.doc_id] = self._spawn(self._follow(room, loaded_upto))

    async def _follow(self, room: Room, after: LogId | None) -> None:
        assert self._tail is not None
        try:
            async for entry in self._tail.tail(room.doc_id, after):
                if isinstance(entry, LogGap):
                    # Entries this pod never read were compacted away: take them from storage.
                    metrics.LOG_GAPS.inc()
                    room.apply_stored(await self._store.load(room.doc_id))
                elif entry.origin == self._origin:
                    room.last_id = entry.id  # our own echo: applied and relayed already
                else:
                    room.apply_remote(entry)
        except Exception:
            # Without the tail this room would silently miss other pods' edits.
            log.exception("following the log of %s failed; closing the room", room.doc_id)
            self.drop(room, CloseCode.INTERNAL_ERROR, "lost the update stream, reconnect")
            raise

    def _unload_if_idle(self, room: Room) -> None:
        self._unload_timers.pop(room.doc_id, None)
        if room.peers or self._rooms.get(room.doc_id) is not room:
            return
        room.close(CloseCode.NORMAL, "unloaded")
        self._forget(room)
        if room.uncompacted_entries:
            self._spawn(self._compact(room))

    def _forget(self, room: Room) -> None:
        if self._rooms.get(room.doc_id) is room:
            del self._rooms[room.doc_id]
            self.unloaded += 1
        if (follower := self._tails.pop(room.doc_id, None)) is not None:
            follower.cancel()
        if self._presence is not None and not self._closed:
            self._spawn(self._unwatch_if_gone(room.doc_id))
        metrics.ROOMS.set(len(self._rooms))

    async def _unwatch_if_gone(self, doc_id: DocId) -> None:
        if doc_id not in self._rooms and self._presence is not None:  # reopened meanwhile?
            await self._presence.unwatch(doc_id)

    def _on_remote_presence(self, doc_id: DocId, pod: Origin, payload: bytes) -> None:
        room = self._rooms.get(doc_id)
        if room is None or room.state is not RoomState.OPEN:
            return
        if payload == ASK_FOR_PRESENCE:
            room.publish_local_awareness()
        else:
            room.apply_remote_awareness(pod, payload)

    def drop(self, room: Room, code: int, reason: str) -> None:
        """Close every peer of a room whose in-memory state can no longer be trusted."""
        room.close(code, reason)
        self._forget(room)

    # -- compaction ----------------------------------------------------------------------------

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._sweep_interval_s)
            now, clock = time.time(), loop.time()
            for room in list(self._rooms.values()):
                for peer in room.peers:
                    peer.expire_stuck_send(clock)
                if (
                    room.needs_compaction(now)
                    and room.doc_id not in self._compacting
                    and self._retry_compaction_at.get(room.doc_id, 0.0) <= now
                ):
                    self._spawn(self._compact(room))

    async def _compact(self, room: Room) -> None:
        if room.doc_id in self._compacting:
            return
        self._compacting.add(room.doc_id)
        try:
            async with self._compaction_slots:
                entries_before = room.uncompacted_entries
                done = await self._store.compact(room.doc_id, room.logged_state())
        except StoreError:
            log.warning("compaction of %s failed; retrying later", room.doc_id, exc_info=True)
            metrics.COMPACTIONS.labels("error").inc()
            self._retry_compaction_at[room.doc_id] = time.time() + 30.0
            return
        finally:
            self._compacting.discard(room.doc_id)
        self._retry_compaction_at.pop(room.doc_id, None)
        metrics.COMPACTIONS.labels("ok" if done else "noop").inc()
        # Entries appended while compacting may not be in the snapshot: keep counting them.
        room.uncompacted_entries = max(0, room.uncompacted_entries - entries_before)
        if room.uncompacted_entries == 0:
            room.compacted()

    def _oldest_uncompacted_age(self) -> float:
        now = time.time()
        ages = [now - r.oldest_uncompacted for r in self._rooms.values() if r.oldest_uncompacted]
        return max(ages, default=0.0)

    # -- lifecycle -----------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("background task ended with %r", exc)  # already logged where raised

    def close_all(self, code: int, reason: str) -> None:
        for room in list(self._rooms.values()):
            room.close(code, reason)

    async def aclose(self, code: int, reason: str, timeout_s: float = 5.0) -> None:
        self._closed = True
        for timer in self._unload_timers.values():
            timer.cancel()
        self._unload_timers.clear()
        self.close_all(code, reason)
        if self._tell_timer is not None:
            self._tell_timer.cancel()
            self._tell_timer = None
        self.tell_listeners()  # the last tenth of a second's edits, up to the close
        for task in [self._sweeper, *self._tails.values()]:
            if task is not None:
                task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
        for task in list(self._tasks):
            task.cancel()
