"""One open document in this process: the shared Y.Doc, its peers and their presence."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from enum import Enum
from typing import TypeVar

from pycrdt import Doc, TransactionEvent, merge_updates

from . import metrics
from .awareness import Applied, RoomAwareness
from .changes import AppliedUpdate, Heard
from .limits import AwarenessLimits, SyncLimits
from .peer import CloseCode, Peer
from .presence import PresenceBus
from .protocol import (
    AuthMessage,
    AwarenessEntry,
    AwarenessMessage,
    Message,
    ProtocolError,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_awareness,
    encode,
    encode_awareness,
    encode_update,
)
from .store import DocState, DocumentStore, ImmediateAppend, LoadedDoc, LogEntry, StoreError
from .types import DocId, LogId, Origin, Update
from .update_format import check_state_vector, check_update

log = logging.getLogger(__name__)

_EMPTY_UPDATE = b"\x00\x00"
_EMPTY_STATE = b"\x00"
"""The state vector of a client that has nothing of the document yet: a new tab's."""
_NO_PRESENCE = encode(AwarenessMessage(encode_awareness([])))
"""Sent to a peer whose awareness update was dropped entirely: the stock client reconnects
after 30 s without a message, and its own renewals, echoed back, would have kept it alive."""

T = TypeVar("T")


def apply_update(doc: Doc, update: Update) -> None:
    """``doc.apply_update(update)`` in a transaction of pycrdt's native document, without the
    Python ``Transaction`` object pycrdt wraps around it: that wrapper (nesting, origins, a
    lock for threads, models; none of which a room uses) cost 2 of the 5 us an update took
    to apply. The transaction commits, and so runs the observers, either way, as pycrdt's
    does. Raises ValueError, as ``Doc.apply_update`` does, for bytes that are no update."""
    native = doc._doc  # pycrdt is pinned below 0.15; the room tests cover this
    txn = native.create_transaction()
    try:
        native.apply_update(txn, update)
    finally:
        txn.commit()
        txn.drop()


class RoomState(Enum):
    LOADING = "loading"
    OPEN = "open"
    CLOSED = "closed"


class DocTooLargeError(Exception):
    """Applying the update would grow the document past ``max_doc_bytes``."""


class Room:
    """Updates are applied and appended one at a time in the order they arrive; an update is
    relayed only after the store made it durable (append-before-broadcast). With a store that
    can commit in the caller's step (``ImmediateAppend``), ``handle_now`` does all of it
    without suspending."""

    def __init__(
        self,
        doc_id: DocId,
        store: DocumentStore,
        origin: Origin,
        limits: SyncLimits,
        presence: PresenceBus | None = None,
        heard: Heard | None = None,
        awareness_limits: AwarenessLimits | None = None,
    ) -> None:
        self.doc_id = doc_id
        self.state = RoomState.LOADING
        self.peers: set[Peer] = set()
        self.awareness = RoomAwareness(awareness_limits)
        self._awareness_batch: dict[int, AwarenessEntry] = {}
        self._awareness_timer: asyncio.TimerHandle | None = None
        self.last_id: LogId | None = None
        self.uncompacted_entries = 0
        self.uncompacted_bytes = 0
        self.oldest_uncompacted: float | None = None
        self.size_bytes = 0
        self._store = store
        self._presence = presence
        self._origin = origin
        self._limits = limits
        self._doc = Doc()
        self._changes: list[Update] = []
        self._whole: bytes | None = None
        """The step 2 a client with an empty state gets (the whole document), encoded once
        for every such joiner until the document changes: a class opening one big document
        at once costs one encoding (a 1 MB document's joiners synced in 10.5 ms, not 15.3)."""
        self._heard = heard
        self._append_now = store if isinstance(store, ImmediateAppend) else None
        # On pycrdt's native document, as ``apply_update`` applies: pycrdt's own ``observe``
        # wraps the callback in two more Python calls per transaction, to collect its errors.
        self._subscription = self._doc._doc.observe(self._capture)
        self._closed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Room {self.doc_id} {self.state.value} peers={len(self.peers)}>"

    def _capture(self, event: TransactionEvent) -> None:
        # Every transaction that changes the document comes here, whoever made it.
        self._whole = None
        self._changes.append(event.update)

    def _take_changes(self) -> Update | None:
        changes = self._changes
        if len(changes) == 1:  # one transaction changed something: the usual case
            change = changes.pop()
            return None if change == _EMPTY_UPDATE else change
        self._changes = []
        changes = [c for c in changes if c != _EMPTY_UPDATE]
        if not changes:
            return None
        return changes[0] if len(changes) == 1 else merge_updates(*changes)

    @property
    def doc(self) -> Doc:
        """The live document; callers must not write to it directly (use ``apply_local``)."""
        return self._doc

    async def load(self) -> None:
        started = time.perf_counter()
        loaded = await self._store.load(self.doc_id)
        for update in loaded.updates:
            self._doc.apply_update(update)
            self.size_bytes += len(update)
        self._changes.clear()
        self.last_id = loaded.last_id
        if len(loaded.updates) > 1:
            # Every tail entry counts as uncompacted, so reopening a long log compacts it.
            self.uncompacted_entries = len(loaded.updates) - 1
            self.oldest_uncompacted = time.time()
        self.state = RoomState.OPEN
        metrics.ROOM_LOAD_SECONDS.observe(time.perf_counter() - started)

    # -- peers ---------------------------------------------------------------------------------

    def add(self, peer: Peer) -> None:
        self.peers.add(peer)
        peer.send(encode(SyncStep1(self._doc.get_state())), "sync_step1")
        if (present := self.awareness.encode_all()) is not None:
            peer.send(encode(AwarenessMessage(present)), "awareness")

    def remove(self, peer: Peer) -> None:
        self.peers.discard(peer)
        if (removal := self.awareness.remove_owner(peer.id)) is not None:
            self._send_awareness(removal)
            if self._presence is not None:
                self._presence.publish(self.doc_id, removal)

    def close(self, code: int, reason: str) -> None:
        """Close every peer; the room is done and never reopens (a new Room loads instead)."""
        self.state = RoomState.CLOSED
        self._closed.set()
        if self._awareness_timer is not None:
            self._awareness_timer.cancel()
            self._awareness_timer = None
        # The native document holds ``_capture``, so the room, in a cycle that runs through
        # Rust where Python's collector cannot see it: dropped here, or no closed room (and
        # none of its document's memory) was ever freed.
        self._subscription.drop()
        for peer in list(self.peers):
            peer.close(code, reason)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- messages ------------------------------------------------------------------------------

    async def handle(self, peer: Peer, message: Message) -> None:
        """Act on one message from ``peer``. Raises ProtocolError for content that cannot be
        applied, DocTooLargeError, or StoreError after closing the whole room."""
        if not self.handle_now(peer, message):
            assert isinstance(message, SyncStep2 | SyncUpdate)
            await self.apply_client_update(message.update, exclude=peer)

    def can_handle_now(self) -> bool:
        """Whether ``handle_now`` will handle any message, in this step, without deferring."""
        return self._append_now is not None and self._append_now.can_append_now()

    def handle_now(self, peer: Peer, message: Message) -> bool:
        """``handle`` in the caller's step. False, having done nothing, for an update that
        must wait for the store: ``handle`` then does it. Raises as ``handle`` does."""
        match message:
            case SyncStep1(state_vector):
                if state_vector == _EMPTY_STATE:
                    if self._whole is None:
                        self._whole = encode(SyncStep2(self._doc.get_update(_EMPTY_STATE)))
                    peer.send(self._whole, "sync_step2")
                    return True
                check_state_vector(state_vector)
                try:
                    reply = self._doc.get_update(state_vector)
                except ValueError as exc:
                    raise ProtocolError(f"invalid state vector: {exc}") from exc
                peer.send(encode(SyncStep2(reply)), "sync_step2")
            case SyncStep2(update) | SyncUpdate(update):
                if not peer.can_write:
                    metrics.READONLY_DROPS.inc()
                elif not self.can_handle_now():
                    return False
                else:
                    self._apply_client_update_now(update, peer)
            case AwarenessMessage(payload):
                if len(payload) > self._limits.max_awareness_bytes:
                    raise ProtocolError("awareness update too large")
                entries = decode_awareness(payload)
                applied = self.awareness.apply_local(peer, entries)
                self._relay_awareness(payload, entries, applied, peer)
                if applied.close:
                    log.info("closing peer %s: awareness for others' client ids", peer.id)
                    peer.close(CloseCode.POLICY_VIOLATION, "awareness for others' client ids")
            case QueryAwareness():
                if (present := self.awareness.encode_all()) is not None:
                    peer.send(encode(AwarenessMessage(present)), "awareness")
            case AuthMessage():
                pass  # Clients have nothing to say in the auth channel.
        return True

    async def apply_client_update(self, update: Update, *, exclude: Peer | None) -> None:
        received = time.perf_counter()
        change, refusal = self._apply_update(update, received)
        if change is not None:
            await self._append(change)
            self._relay_client_update(change, exclude, received)
        if refusal is not None:
            raise refusal

    def _apply_client_update_now(self, update: Update, peer: Peer) -> None:
        assert self._append_now is not None
        received = time.perf_counter()
        change, refusal = self._apply_update(update, received)
        if change is not None:
            started = time.perf_counter()
            try:
                last_id = self._append_now.append_now(self.doc_id, change, self._origin)
            except StoreError:
                self._append_failed()
                raise
            self._appended(change, last_id, started)
            self._relay_client_update(change, peer, received)
        if refusal is not None:
            raise refusal

    def _apply_update(
        self, update: Update, received: float
    ) -> tuple[Update | None, ProtocolError | None]:
        """Apply a client's update to the document: what it changed (None when nothing), and
        the error to refuse its sender with after that change is logged and relayed."""
        if update == _EMPTY_UPDATE:
            return None, None
        if self.size_bytes + len(update) > self._limits.max_doc_bytes:
            raise DocTooLargeError(f"document {self.doc_id} is at its size limit")
        check_update(update)  # before yrs reads it: yrs allocates by the counts it reads
        try:
            apply_update(self._doc, update)
        except ValueError as exc:  # yrs could not decode it: nothing was applied
            self._changes.clear()
            raise ProtocolError(f"update cannot be applied: {exc}") from exc
        except RuntimeError as exc:
            # yrs stopped part-way (an item whose parent is no type): what it integrated
            # before is in the document, so it is logged and relayed like any change.
            return self._take_changes(), ProtocolError(f"update cannot be applied: {exc}")
        metrics.UPDATE_APPLY_SECONDS.observe(time.perf_counter() - received)
        # None when already known (a resend after reconnect) or still pending its deps.
        return self._take_changes(), None

    def _relay_client_update(self, change: Update, exclude: Peer | None, received: float) -> None:
        self._broadcast(encode_update(change), "sync_update", exclude=exclude)
        metrics.FANOUT_SECONDS.observe(time.perf_counter() - received)
        heard = self._heard
        if heard is not None and exclude is not None:
            # Only clients' updates are heard: the pods' relayed and the server's own changes
            # are nobody's edits. Kept for the listeners, who hear them in batches.
            if not heard:
                heard.wake()
            heard.append(AppliedUpdate(self.doc_id, exclude, change, time.time()))

    async def apply_server_change(self, change: Callable[[Doc], T]) -> T:
        with self._doc.transaction(origin="server"):
            result = change(self._doc)
        update = self._take_changes()
        if update is not None:
            await self._append(update)
            self._broadcast(encode_update(update), "sync_update", exclude=None)
        return result

    def apply_remote(self, entry: LogEntry) -> None:
        """An update another process appended to the log: apply and relay, never re-append."""
        self._doc.apply_update(entry.update)
        self.last_id = entry.id
        self.size_bytes += len(entry.update)
        self._relay_changes()

    def apply_stored(self, loaded: LoadedDoc) -> None:
        """The document as storage has it, read again after the log was trimmed under this
        room's tail: Yjs skips what the room already holds; the rest is applied and relayed."""
        if self.state is not RoomState.OPEN:
            return
        for update in loaded.updates:
            self._doc.apply_update(update)
        if (change := self._relay_changes()) is not None:
            self.size_bytes += len(change)

    def _relay_changes(self) -> Update | None:
        """Send what the last applied updates changed to every peer; returns it."""
        change = self._take_changes()
        if change is not None:
            self._broadcast(encode_update(change), "sync_update", exclude=None)
        return change

    def publish_local_awareness(self) -> None:
        """Another pod opened this document and asks for its presence: send it this pod's
        connections' states now, not at their next renewal (up to 15-30 s away)."""
        if self._presence is not None and (states := self.awareness.encode_local()) is not None:
            self._presence.publish(self.doc_id, states)

    def apply_remote_awareness(self, pod: Origin, payload: bytes) -> None:
        """Awareness another pod relayed: checked again, since one bad relay would make
        every client here throw, and an id owned here stays so."""
        try:
            entries = decode_awareness(payload)
        except ProtocolError:
            log.warning("dropping invalid awareness relayed for %s", self.doc_id)
            return
        self._relay_awareness(payload, entries, self.awareness.apply_remote(pod, entries), None)

    def _relay_awareness(
        self, payload: bytes, entries: list[AwarenessEntry], applied: Applied, sender: Peer | None
    ) -> None:
        """Send what ``applied`` accepted to every peer, the sender too (its renewals echoed
        keep it alive), and from a peer here to the other pods."""
        for reason, count in applied.dropped.items():
            metrics.AWARENESS_DROPPED.labels(reason).inc(count)
        if applied.entries:
            # Relayed as received when nothing was dropped or rewritten: the usual case.
            update = payload if applied.entries == entries else encode_awareness(applied.entries)
            self._send_awareness(update, applied.entries)
            if sender is not None and self._presence is not None:
                self._presence.publish(self.doc_id, update)
        elif sender is not None and applied.dropped:
            sender.send(_NO_PRESENCE, "awareness")
        if sender is not None and applied.reply:
            sender.send(encode(AwarenessMessage(encode_awareness(applied.reply))), "awareness")

    def _send_awareness(self, update: bytes, entries: list[AwarenessEntry] | None = None) -> None:
        """To every peer: at once, or in a crowded room with the next batch (``entries``:
        ``update`` decoded, when the caller has them)."""
        limits = self.awareness.limits
        if len(self.peers) < limits.batch_peers:
            self._broadcast(encode(AwarenessMessage(update)), "awareness", exclude=None)
            return
        batch = self._awareness_batch
        for entry in decode_awareness(update) if entries is None else entries:
            held = batch.get(entry.client_id)
            if held is None or held.clock <= entry.clock:
                batch[entry.client_id] = entry
        if self._awareness_timer is None and self.state is not RoomState.CLOSED:
            self._awareness_timer = asyncio.get_running_loop().call_later(
                limits.batch_s, self._send_awareness_batch
            )

    def _send_awareness_batch(self) -> None:
        self._awareness_timer = None
        batch, self._awareness_batch = self._awareness_batch, {}
        if batch and self.state is not RoomState.CLOSED:
            update = encode_awareness(list(batch.values()))
            self._broadcast(encode(AwarenessMessage(update)), "awareness", exclude=None)

    async def _append(self, change: Update) -> None:
        started = time.perf_counter()
        try:
            last_id = await self._store.append(self.doc_id, change, self._origin)
        except StoreError:
            self._append_failed()
            raise
        self._appended(change, last_id, started)

    def _append_failed(self) -> None:
        # The in-memory doc now holds an update nobody can rely on: drop the whole room so
        # every client reconnects, reloads what is durable and re-sends what it has.
        log.exception("append failed for %s; closing the room", self.doc_id)
        self.close(CloseCode.INTERNAL_ERROR, "storage unavailable, reconnect")

    def _appended(self, change: Update, last_id: LogId, started: float) -> None:
        self.last_id = last_id
        metrics.LOG_APPEND_SECONDS.observe(time.perf_counter() - started)
        self.size_bytes += len(change)
        self.uncompacted_entries += 1
        self.uncompacted_bytes += len(change)
        if self.oldest_uncompacted is None:
            self.oldest_uncompacted = time.time()

    def logged_state(self) -> DocState | None:
        """The document as a snapshot of its log up to ``last_id``, when it holds every entry
        of it: with a store that appends in the caller's step, this process's rooms are the
        log's only writers and apply each update before appending it. It may hold more (an
        update whose append has not returned, or failed): Yjs applies what it already has as
        nothing, and a client resends what it is not sure of. In cluster mode other pods'
        entries may come before ``last_id`` unread: no state then."""
        if self.last_id is None or self._append_now is None:
            return None
        return DocState(self._doc.get_update(), self.last_id)

    def needs_compaction(self, now: float) -> bool:
        if self.uncompacted_entries == 0:
            return False
        limits = self._limits
        return (
            self.uncompacted_entries >= limits.compact_entries
            or self.uncompacted_bytes >= limits.compact_bytes
            or (
                self.oldest_uncompacted is not None
                and now - self.oldest_uncompacted >= limits.compact_age_s
            )
        )

    def compacted(self) -> None:
        self.uncompacted_entries = 0
        self.uncompacted_bytes = 0
        self.oldest_uncompacted = None

    def _broadcast(self, frame: bytes, kind: str, *, exclude: Peer | None) -> None:
        sent = 0
        for peer in self.peers:
            if peer is not exclude and peer.put(frame):
                sent += 1
        if sent:
            metrics.OUTBOUND.count(kind, len(frame), sent)
