"""Room and Rooms logic with the real SQLite store and an in-memory transport."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from sync.limits import AwarenessLimits, SyncLimits
from sync.peer import CloseCode, Peer, PeerState
from sync.protocol import (
    AwarenessEntry,
    AwarenessMessage,
    ProtocolError,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode,
    decode_awareness,
    encode_awareness,
)
from sync.room import Room, apply_update
from sync.rooms import Rooms, RoomUnavailableError
from sync.sqlite_store import SqliteStore
from sync.store import DocState, LoadedDoc, LogEntry, StoreError
from sync.types import DocId, LogId, Origin, Update
from tests.sync.durable import durable_seqs

DOC = DocId("doc-1")


class MemoryTransport:
    """``immediate`` plays a server with the write-now extension: frames then land in
    ``frames`` in the sender's turn unless the gate (backpressure) is shut."""

    def __init__(self, *, immediate: bool = False) -> None:
        self.frames: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self.gate: asyncio.Event | None = None
        self.immediate = immediate
        self.sent_now = 0
        self._arrived = asyncio.Event()

    def send_now(self, frame: bytes) -> bool:
        if not self.immediate or (self.gate is not None and not self.gate.is_set()):
            return False
        self.frames.append(frame)
        self.sent_now += 1
        self._arrived.set()
        return True

    async def send(self, frame: bytes) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.frames.append(frame)
        self._arrived.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self._arrived.set()

    def messages(self) -> list[object]:
        return [decode(f) for f in self.frames]

    async def wait_for(self, predicate, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
        async def until() -> None:
            while not predicate():
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(until(), timeout_s)


def make_update(text: str, doc: Doc | None = None) -> Update:
    doc = doc or Doc()
    before = doc.get_state()
    doc.get("content", type=Text).insert(0, text)
    return doc.get_update(before)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "t.db")
    yield store
    await store.aclose()


@pytest.fixture
async def rooms(store: SqliteStore) -> AsyncIterator[Rooms]:
    async with Rooms(store, origin=Origin("pod-a"), limits=SyncLimits(room_grace_s=0.01)) as r:
        yield r


def connect(
    can_write: bool = True, outbox_frames: int = 64, *, immediate: bool = False
) -> tuple[Peer, MemoryTransport]:
    transport = MemoryTransport(immediate=immediate)
    peer = Peer(transport, can_write=can_write, outbox_frames=outbox_frames)
    return peer, transport


async def started(peer: Peer) -> asyncio.Task[None]:
    return peer.start_writer()


async def test_joining_peer_gets_step1_with_the_docs_state(rooms: Rooms) -> None:
    peer, transport = connect()
    writer = await started(peer)
    await rooms.join(DOC, peer)
    await transport.wait_for(lambda: transport.frames)
    assert isinstance(transport.messages()[0], SyncStep1)
    peer.stop()
    await writer


async def test_update_is_durable_before_any_peer_sees_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    seen_durable: list[bool] = []
    room = Room(DOC, store, Origin("pod-a"), SyncLimits())
    await room.load()
    sender, _ = connect()
    receiver, _transport = connect()
    room.add(sender)
    room.add(receiver)

    original_put = receiver.put

    def check_then_put(frame: bytes) -> bool:
        if isinstance(decode(frame), SyncUpdate):
            seen_durable.append(len(durable_seqs(tmp_path / "t.db")) == 1)
        return original_put(frame)

    receiver.put = check_then_put  # type: ignore[method-assign]
    await room.handle(sender, SyncUpdate(make_update("hi")))
    assert seen_durable == [True]


async def test_update_reaches_other_peers_but_not_its_sender(rooms: Rooms) -> None:
    a, _ta = connect()
    b, _tb = connect()
    room_a = await rooms.join(DOC, a)
    await rooms.join(DOC, b)
    update = make_update("hello")
    await room_a.handle(a, SyncUpdate(update))
    queued_b = [decode(f) for f in _drain(b)]
    queued_a = [decode(f) for f in _drain(a)]
    assert any(isinstance(m, SyncUpdate) for m in queued_b)
    assert not any(isinstance(m, SyncUpdate) for m in queued_a)
    assert str(room_a.doc.get("content", type=Text)) == "hello"


async def test_fan_out_writes_at_once_where_the_transport_can_and_keeps_order(
    rooms: Rooms,
) -> None:
    sender, _ = connect()
    fast, fast_t = connect(immediate=True)
    held, held_t = connect(immediate=True)
    writers = [await started(fast), await started(held)]
    room = await rooms.join(DOC, sender)
    await rooms.join(DOC, fast)
    await rooms.join(DOC, held)
    doc = Doc()
    await room.handle(sender, SyncUpdate(make_update("a", doc)))
    # Written in the room's own turn: no writer task ran in between.
    assert [type(decode(f)) for f in fast_t.frames] == [SyncStep1, SyncUpdate]
    held_t.gate = asyncio.Event()  # backpressure: this one must queue, in order
    for text in "bcd":
        await room.handle(sender, SyncUpdate(make_update(text, doc)))
    assert fast_t.sent_now == 5 and held_t.sent_now == 2
    # Writable again, and in that same turn (before the writer resumes) another pod's
    # update arrives: it must queue behind b, c and d, not overtake them.
    held_t.gate.set()
    room.apply_remote(LogEntry(LogId("9-0"), Origin("pod-b"), make_update("e", doc)))
    await held_t.wait_for(lambda: len(held_t.frames) == 6)
    for transport in (fast_t, held_t):
        replica = Doc()
        for message in transport.messages()[1:]:
            assert isinstance(message, SyncUpdate)
            replica.apply_update(message.update)
        assert str(replica.get("content", type=Text)) == str(doc.get("content", type=Text))
    assert [m.update for m in held_t.messages()[1:]] == [m.update for m in fast_t.messages()[1:]]
    for peer in (fast, held):
        peer.stop()
    await asyncio.gather(*writers)


async def test_resent_update_is_neither_logged_nor_relayed_again(
    rooms: Rooms, store: SqliteStore
) -> None:
    a, _ = connect()
    b, _ = connect()
    room = await rooms.join(DOC, a)
    await rooms.join(DOC, b)
    update = make_update("once")
    await room.handle(a, SyncUpdate(update))
    _drain(b)
    await room.handle(a, SyncStep2(update))
    assert (await store.stats(DOC)).entries == 1
    assert not [f for f in _drain(b) if isinstance(decode(f), SyncUpdate)]


async def test_read_only_peer_writes_are_dropped_but_it_still_syncs(rooms: Rooms) -> None:
    viewer, _ = connect(can_write=False)
    room = await rooms.join(DOC, viewer)
    await room.handle(viewer, SyncUpdate(make_update("nope")))
    assert str(room.doc.get("content", type=Text)) == ""
    _drain(viewer)
    await room.handle(viewer, SyncStep1(Doc().get_state()))
    assert isinstance(decode(_drain(viewer)[-1]), SyncStep2)


async def test_unappliable_update_raises_and_leaves_the_doc_alone(rooms: Rooms) -> None:
    a, _ = connect()
    room = await rooms.join(DOC, a)
    await room.handle(a, SyncUpdate(make_update("keep")))
    with pytest.raises(ProtocolError):
        await room.handle(a, SyncUpdate(b"\x05\xff\x01garbage"))
    assert str(room.doc.get("content", type=Text)) == "keep"


async def _writer_and_watcher(rooms: Rooms, writer: Doc) -> tuple[Room, Peer, Peer]:
    """A room holding "keep", written from ``writer`` by one peer; the other's outbox empty."""
    a, _ = connect()
    b, _ = connect()
    room = await rooms.join(DOC, a)
    await rooms.join(DOC, b)
    await room.handle(a, SyncUpdate(make_update("keep", writer)))
    _drain(b)
    return room, a, b


async def test_an_update_claiming_more_than_its_bytes_never_reaches_the_doc(
    rooms: Rooms,
) -> None:
    room, a, b = await _writer_and_watcher(rooms, Doc())
    with pytest.raises(ProtocolError, match="claimed"):  # 10**8 clients: yrs touched 128 MiB
        await room.handle(a, SyncUpdate(b"\x80\xc2\xd7\x2f" + bytes(16)))
    with pytest.raises(ProtocolError, match="claimed"):
        await room.handle(a, SyncStep1(b"\x80\xc2\xd7\x2f"))
    assert str(room.doc.get("content", type=Text)) == "keep"
    assert _drain(b) == []


async def test_what_yrs_applied_of_an_update_it_stopped_in_is_kept_and_relayed(
    rooms: Rooms,
) -> None:
    writer = Doc(client_id=1)
    room, a, b = await _writer_and_watcher(rooms, writer)
    # Client 5 appends "X" to client 1's text; client 3's item names a string as its parent,
    # where yrs stops with a RuntimeError, after integrating client 5's.
    appended = b"\x01\x05\x00\x84\x01\x03\x01X"
    misplaced = b"\x01\x03\x00\x04\x00\x01\x00\x01Y"
    with pytest.raises(ProtocolError, match="cannot be applied"):
        await room.handle(a, SyncUpdate(b"\x02" + appended + misplaced + b"\x00"))
    assert str(room.doc.get("content", type=Text)) == "keepX"
    relayed = [decode(frame) for frame in _drain(b)]
    assert len(relayed) == 1 and isinstance(relayed[0], SyncUpdate)
    apply_update(writer, relayed[0].update)
    assert str(writer.get("content", type=Text)) == "keepX"


async def test_slow_peer_is_closed_with_1013_and_the_room_goes_on(rooms: Rooms) -> None:
    fast, _fast_t = connect()
    slow, slow_t = connect(outbox_frames=4)
    slow_t.gate = asyncio.Event()  # the slow peer's socket never drains
    writers = [await started(fast), await started(slow)]
    room = await rooms.join(DOC, fast)
    await rooms.join(DOC, slow)
    doc = Doc()
    for i in range(20):
        await room.handle(fast, SyncUpdate(make_update(str(i), doc)))
    assert slow.state is not PeerState.OPEN and slow.close_code == CloseCode.TRY_AGAIN_LATER
    slow_t.gate.set()
    await slow_t.wait_for(lambda: slow_t.closed is not None)
    assert slow_t.closed is not None and slow_t.closed[0] == 1013
    assert len(room.doc.get("content", type=Text)) == len("".join(str(i) for i in range(20)))
    fast.stop()
    await asyncio.gather(*writers)


async def test_peer_stuck_in_a_send_is_closed_after_the_send_timeout(store: SqliteStore) -> None:
    limits = SyncLimits(room_grace_s=0.01, send_timeout_s=0.2)
    async with Rooms(store, origin=Origin("pod-a"), limits=limits, sweep_interval_s=0.05) as rooms:
        transport = MemoryTransport()
        transport.gate = asyncio.Event()  # the client stopped reading: every send blocks
        stuck = Peer(transport, outbox_frames=64, send_timeout_s=0.2)
        writer = await started(stuck)
        other, _ = connect()
        room = await rooms.join(DOC, stuck)  # its sync step 1 is now stuck in the send
        await rooms.join(DOC, other)
        await room.handle(other, SyncUpdate(make_update("typed on")))
        assert stuck.open  # a queue that is not full does not close it; the deadline does
        await asyncio.wait_for(writer, 5)
        assert stuck.close_code == CloseCode.TRY_AGAIN_LATER
        assert transport.closed is not None and transport.closed[0] == 1013
        assert str(room.doc.get("content", type=Text)) == "typed on"
        other.stop()


async def test_awareness_of_a_leaving_peer_is_removed_for_everyone(rooms: Rooms) -> None:
    a, _ = connect()
    b, _ = connect()
    room = await rooms.join(DOC, a)
    await rooms.join(DOC, b)
    payload = encode_awareness([AwarenessEntry(42, 1, '{"user":{"name":"ann"}}')])
    await room.handle(a, AwarenessMessage(payload))
    assert [decode(f) for f in _drain(a)][-1] == AwarenessMessage(payload)  # echoed to sender
    _drain(b)
    rooms.leave(room, a)
    (removal,) = [decode(f) for f in _drain(b)]
    assert isinstance(removal, AwarenessMessage)
    assert decode_awareness(removal.payload) == [AwarenessEntry(42, 2, "null")]


async def test_awareness_echoed_by_another_peer_stays_with_its_owner(rooms: Rooms) -> None:
    """Stock clients send everyone's states back; the echo must not take the entry over, or
    the owner's departure would leave a ghost cursor behind."""
    a, _ = connect()
    b, _ = connect()
    room = await rooms.join(DOC, a)
    await rooms.join(DOC, b)
    payload = encode_awareness([AwarenessEntry(42, 3, '{"user":{"name":"ann"}}')])
    await room.handle(a, AwarenessMessage(payload))
    await room.handle(b, AwarenessMessage(payload))  # b echoes ann's state, same clock
    _drain(b)
    rooms.leave(room, a)
    (removal,) = [decode(f) for f in _drain(b)]
    assert isinstance(removal, AwarenessMessage)
    assert decode_awareness(removal.payload) == [AwarenessEntry(42, 4, "null")]


async def one_batch(transport: MemoryTransport) -> list[AwarenessEntry]:
    """The one awareness message the transport got (waiting for it), by client id."""
    await transport.wait_for(lambda: transport.frames)
    (batch,) = transport.messages()
    assert isinstance(batch, AwarenessMessage)
    return sorted(decode_awareness(batch.payload), key=lambda e: e.client_id)


async def test_a_crowded_room_relays_awareness_in_batches(store: SqliteStore) -> None:
    """Past ``batch_peers`` peers, the states that came in one batch period go out as one
    message to every peer, each client's newest: a crowd joining at once costs a message per
    peer per period, not one per peer per joiner."""
    limits = AwarenessLimits(batch_peers=4, batch_s=0.01)
    async with Rooms(
        store, origin=Origin("p"), limits=SyncLimits(), awareness_limits=limits
    ) as rooms:
        joined = [connect(immediate=True) for _ in range(4)]
        room = await rooms.join(DOC, joined[0][0])
        for peer, _ in joined[1:]:
            await rooms.join(DOC, peer)
        for _, transport in joined:
            transport.frames.clear()
        for n, (peer, _) in enumerate(joined):
            state = encode_awareness([AwarenessEntry(100 + n, 1, f'{{"n":{n}}}')])
            await room.handle(peer, AwarenessMessage(state))
        newer = encode_awareness([AwarenessEntry(100, 2, '{"n":"moved"}')])
        await room.handle(joined[0][0], AwarenessMessage(newer))
        assert all(not transport.frames for _, transport in joined)  # held for the batch
        for _, transport in joined:
            assert await one_batch(transport) == [
                AwarenessEntry(100, 2, '{"n":"moved"}'),
                AwarenessEntry(101, 1, '{"n":1}'),
                AwarenessEntry(102, 1, '{"n":2}'),
                AwarenessEntry(103, 1, '{"n":3}'),
            ]
        # Leavers' removals go out in one batch too, while the room is still crowded.
        more = [connect(immediate=True) for _ in range(2)]
        for peer, _ in more:
            await rooms.join(DOC, peer)
        for _, transport in joined + more:
            transport.frames.clear()
        rooms.leave(room, joined[1][0])
        rooms.leave(room, joined[2][0])
        staying = [joined[0], joined[3], *more]
        assert all(not transport.frames for _, transport in staying)
        for _, transport in staying:
            assert await one_batch(transport) == [
                AwarenessEntry(101, 2, "null"),
                AwarenessEntry(102, 2, "null"),
            ]


async def test_joiner_receives_present_awareness(rooms: Rooms) -> None:
    a, _ = connect()
    room = await rooms.join(DOC, a)
    payload = encode_awareness([AwarenessEntry(7, 1, '{"cursor":3}')])
    await room.handle(a, AwarenessMessage(payload))
    b, _ = connect()
    await rooms.join(DOC, b)
    frames = [decode(f) for f in _drain(b)]
    assert AwarenessMessage(payload) in frames


async def test_concurrent_joiners_share_one_load(tmp_path: Path) -> None:
    loads = 0
    release = asyncio.Event()

    class CountingStore(SqliteStore):
        async def load(self, doc_id: DocId) -> LoadedDoc:
            nonlocal loads
            loads += 1
            await release.wait()
            return await super().load(doc_id)

    counting = CountingStore(tmp_path / "counted.db")
    async with Rooms(counting, origin=Origin("p"), limits=SyncLimits()) as rooms:
        joins = [asyncio.create_task(rooms.join(DOC, connect()[0])) for _ in range(10)]
        release.set()
        joined = await asyncio.gather(*joins)
    assert loads == 1
    assert len({id(r) for r in joined}) == 1


async def test_failed_load_writes_nothing_and_next_join_retries(tmp_path: Path) -> None:
    failing = True

    class FlakyStore(SqliteStore):
        async def load(self, doc_id: DocId) -> LoadedDoc:
            if failing:
                raise StoreError("disk on fire")
            return await super().load(doc_id)

        async def append(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
            raise AssertionError("a failed load must not write")

    async with Rooms(
        FlakyStore(tmp_path / "flaky.db"), origin=Origin("p"), limits=SyncLimits()
    ) as rooms:
        with pytest.raises(RoomUnavailableError):
            await rooms.join(DOC, connect()[0])
        assert rooms.get(DOC) is None
        failing = False
        await rooms.join(DOC, connect()[0])
        assert rooms.get(DOC) is not None


@pytest.mark.parametrize("path", ["append_now", "append"])
async def test_failed_append_closes_the_whole_room(tmp_path: Path, path: str) -> None:
    class BrokenAppends(SqliteStore):
        """Fails on the path the room takes: ``append_now``, or ``append`` when the store
        says it cannot commit at once."""

        def can_append_now(self) -> bool:
            return path == "append_now"

        def append_now(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
            raise StoreError("no space left")

        async def append(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
            raise StoreError("no space left")

    async with Rooms(
        BrokenAppends(tmp_path / "broken.db"), origin=Origin("p"), limits=SyncLimits()
    ) as rooms:
        a, _ = connect()
        b, _ = connect()
        room = await rooms.join(DOC, a)
        await rooms.join(DOC, b)
        with pytest.raises(StoreError):
            await room.handle(a, SyncUpdate(make_update("lost?")))
        assert a.close_code == b.close_code == CloseCode.INTERNAL_ERROR
        assert not [f for f in _drain(b) if isinstance(decode(f), SyncUpdate)]


async def test_empty_room_unloads_after_grace(rooms: Rooms) -> None:
    a, _ = connect()
    room = await rooms.join(DOC, a)
    rooms.leave(room, a)
    assert rooms.get(DOC) is room
    await asyncio.wait_for(room.wait_closed(), 2.0)
    assert rooms.get(DOC) is None


async def test_an_unloaded_room_and_its_document_are_freed(rooms: Rooms) -> None:
    """Nothing keeps a closed room alive: the native document's observer of it, a cycle
    through Rust that Python's collector cannot see, is dropped on close (it kept every
    room ever opened, 17 MiB a cycle of 300 documents in bench/memory_soak.py)."""
    a, _ = connect()
    room = await rooms.join(DOC, a)
    await room.handle(a, SyncUpdate(make_update("typed, then closed")))
    rooms.leave(room, a)
    await asyncio.wait_for(room.wait_closed(), 2.0)
    gone = weakref.ref(room)
    document = weakref.ref(room.doc)
    del room, a
    deadline = time.monotonic() + 5
    while gone() is not None or document() is not None:  # its compaction may still hold it
        assert time.monotonic() < deadline, gc.get_referrers(gone())
        gc.collect()
        await asyncio.sleep(0.01)  # polling a weak reference with a deadline


async def test_reopened_doc_has_its_content(rooms: Rooms) -> None:
    a, _ = connect()
    room = await rooms.join(DOC, a)
    await room.handle(a, SyncUpdate(make_update("persisted")))
    rooms.leave(room, a)
    rooms.drop(room, CloseCode.NORMAL, "test")
    b, _ = connect()
    again = await rooms.join(DOC, b)
    assert again is not room
    assert str(again.doc.get("content", type=Text)) == "persisted"


def _drain(peer: Peer) -> list[bytes]:
    frames = list(peer._frames)
    peer._frames.clear()
    return frames


async def test_server_edit_is_durable_and_reaches_every_peer(
    rooms: Rooms, store: SqliteStore
) -> None:
    a, _ = connect()
    room = await rooms.join(DOC, a)
    await room.handle(a, SyncUpdate(make_update("hello")))
    _drain(a)

    def shout(doc: Doc) -> int:
        text = doc.get("content", type=Text)
        text.insert(len(text), "!")
        return len(text)

    assert await rooms.edit(DOC, shout) == 6
    (relayed,) = [decode(f) for f in _drain(a)]
    assert isinstance(relayed, SyncUpdate)  # the sender of a server edit is nobody: all see it
    reloaded = Doc()
    for update in (await store.load(DOC)).updates:
        reloaded.apply_update(update)
    assert str(reloaded.get("content", type=Text)) == "hello!"


async def test_server_edit_of_a_closed_doc_opens_it_then_unloads(rooms: Rooms) -> None:
    await rooms.edit(DOC, lambda doc: doc.get("content", type=Text).insert(0, "seeded"))
    room = rooms.get(DOC)
    assert room is not None and str(room.doc.get("content", type=Text)) == "seeded"
    await asyncio.wait_for(room.wait_closed(), 2.0)
    b, _ = connect()
    again = await rooms.join(DOC, b)
    assert str(again.doc.get("content", type=Text)) == "seeded"


async def test_rooms_unloading_together_compact_a_few_at_a_time(tmp_path: Path) -> None:
    running, most, finished = 0, 0, 0
    two_running, gate, all_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    class WatchedStore(SqliteStore):
        async def compact(self, doc_id: DocId, state: DocState | None = None) -> bool:
            nonlocal running, most, finished
            running += 1
            most = max(most, running)
            if running == 2:
                two_running.set()
            try:
                await gate.wait()
                return await super().compact(doc_id, state)
            finally:
                running -= 1
                finished += 1
                if finished == 6:
                    all_done.set()

    path = tmp_path / "watched.db"
    limits = SyncLimits(room_grace_s=0.01, compactions_at_once=2)
    async with (
        WatchedStore(path) as watched,
        Rooms(watched, origin=Origin("p"), limits=limits) as rooms,
    ):
        docs = [DocId(f"crowd-{i}") for i in range(6)]
        for doc in docs:
            peer, _ = connect()
            room = await rooms.join(doc, peer)
            for word in ("one ", "two "):
                await room.handle(peer, SyncUpdate(make_update(word)))
            rooms.leave(room, peer)
            await room.wait_closed()  # unloaded: its compaction is queued
        await asyncio.wait_for(two_running.wait(), 5.0)
        assert running == 2  # the other four wait for a slot
        gate.set()
        await asyncio.wait_for(all_done.wait(), 5.0)
        for doc in docs:
            assert watched._db.execute(
                "SELECT 1 FROM snapshots WHERE doc_id = ?", (doc,)
            ).fetchone()
    assert most == 2


async def test_an_open_rooms_compaction_saves_its_document_without_merging_the_log(
    rooms: Rooms, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = connect()
    room = await rooms.join(DOC, a)
    doc = Doc()
    for word in ("one ", "two ", "three"):
        await room.handle(a, SyncUpdate(make_update(word, doc)))
    state = room.logged_state()
    assert state is not None and state.upto == room.last_id

    async def no_merging(updates: object) -> bytes:
        raise AssertionError("the log was merged")

    monkeypatch.setattr("sync.sqlite_store.merge", no_merging)
    await rooms._compact(room)
    assert room.uncompacted_entries == 0
    (snapshot,) = (await store.load(DOC)).updates
    again = Doc()
    again.apply_update(snapshot)
    assert str(again.get("content", type=Text)) == str(doc.get("content", type=Text))


async def test_a_relayed_update_is_counted_once_per_peer_it_reaches(rooms: Rooms) -> None:
    from prometheus_client import REGISTRY

    def out() -> tuple[float, float]:
        labels = {"type": "sync_update"}
        return (
            REGISTRY.get_sample_value("tandem_messages_out_total", labels) or 0.0,
            REGISTRY.get_sample_value("tandem_bytes_out_total", labels) or 0.0,
        )

    peers = [connect()[0] for _ in range(4)]
    for peer in peers:
        room = await rooms.join(DOC, peer)
    peers[3].close(CloseCode.NORMAL, "gone")  # still in the room, but nothing reaches it
    before = out()
    await room.handle(peers[0], SyncUpdate(make_update("counted")))
    relayed = [f for f in _drain(peers[1]) if isinstance(decode(f), SyncUpdate)]
    assert len(relayed) == 1
    messages, nbytes = (after - was for after, was in zip(out(), before, strict=True))
    assert (messages, nbytes) == (2, 2 * len(relayed[0]))


def test_the_rooms_apply_matches_pycrdts_and_its_observers_see_the_transaction() -> None:
    writer = Doc()
    text = writer.get("content", type=Text)
    updates = []
    writer.observe(lambda event: updates.append(event.update))
    text.insert(0, "hello")
    text.insert(5, " world")
    del text[0:1]
    ours, theirs = Doc(), Doc()
    seen: list[bytes] = []
    ours.observe(lambda event: seen.append(event.update))
    for update in (updates[1], updates[2], updates[0]):  # out of order: held, then released
        apply_update(ours, update)
        theirs.apply_update(update)
        assert ours.get_update() == theirs.get_update()
    assert str(ours.get("content", type=Text)) == "ello world"
    assert len(seen) == 1  # only the last transaction changed it: the first two were held
    with pytest.raises(ValueError):
        apply_update(ours, b"\x05\xff\x01garbage")
    assert str(ours.get("content", type=Text)) == "ello world"
    apply_update(ours, make_update("!", writer))  # still usable after the error
    assert str(ours.get("content", type=Text)) == "!ello world"


async def test_joiners_with_nothing_share_one_encoding_of_the_document_until_it_changes(
    rooms: Rooms,
) -> None:
    writer, _ = connect()
    room = await rooms.join(DOC, writer)
    await room.handle(writer, SyncUpdate(make_update("hello")))

    async def join_empty() -> bytes:
        joiner, _ = connect()
        await rooms.join(DOC, joiner)
        _drain(joiner)
        await room.handle(joiner, SyncStep1(Doc().get_state()))
        (reply,) = _drain(joiner)
        return reply

    def text_of(reply: bytes) -> str:
        message = decode(reply)
        assert isinstance(message, SyncStep2)
        replica = Doc()
        replica.apply_update(message.update)
        return str(replica.get("content", type=Text))

    first, second = await join_empty(), await join_empty()
    assert first is second and text_of(first) == "hello"
    await room.handle(writer, SyncUpdate(make_update("typed ")))
    after_typing = await join_empty()
    assert "typed " in text_of(after_typing)
    await rooms.edit(DOC, lambda doc: doc.get("content", type=Text).insert(0, ">"))
    after_edit = await join_empty()
    assert text_of(after_edit) == str(room.doc.get("content", type=Text))
    assert text_of(after_edit).startswith(">")
