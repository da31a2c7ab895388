"""Inbound: a message is handled in the protocol callback only when nothing is ahead of it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pycrdt import Doc, Text

from server.settings import Settings
from server.sync_inbound import Inbound
from sync.limits import SyncLimits
from sync.peer import Peer
from sync.protocol import SyncUpdate, decode, encode
from sync.rooms import Rooms
from sync.sqlite_store import SqliteStore
from sync.types import DocId, LogId, Origin, Update

DOC = DocId("inbound")


class Wire:
    """A transport that keeps what it is given."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def send_now(self, frame: bytes) -> bool:
        self.frames.append(frame)
        return True

    async def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    async def close(self, code: int, reason: str) -> None:
        pass


class HeldStore(SqliteStore):
    """While ``held``, appends cannot commit at once and wait for ``released``."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.held = True
        self.waiting = asyncio.Event()
        self.released = asyncio.Event()
        self.appended: list[Update] = []
        self.two_appended = asyncio.Event()

    def _note(self, update: Update) -> None:
        self.appended.append(update)
        if len(self.appended) == 2:
            self.two_appended.set()

    def can_append_now(self) -> bool:
        return not self.held and super().can_append_now()

    def append_now(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
        self._note(update)
        return super().append_now(doc_id, update, origin)

    async def append(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
        self.waiting.set()
        await self.released.wait()
        return await super().append(doc_id, update, origin)  # commits through append_now


def edits(*words: str) -> list[bytes]:
    """One client's consecutive edits, each its own sync update frame."""
    doc, frames = Doc(), []
    text = doc.get("content", type=Text)
    for word in words:
        before = doc.get_state()
        text += word
        frames.append(encode(SyncUpdate(doc.get_update(before))))
    return frames


async def test_a_frame_offered_while_another_is_handled_waits_its_turn(tmp_path: Path) -> None:
    async with (
        HeldStore(tmp_path / "t.db") as store,
        Rooms(store, origin=Origin("pod"), limits=SyncLimits()) as rooms,
    ):
        wire = Wire()
        writer, reader = Peer(Wire()), Peer(wire)
        room = await rooms.join(DOC, writer)
        await rooms.join(DOC, reader)
        inbound = Inbound(Settings(), rooms, room, writer)
        first, second, third = edits("one ", "two ", "three")
        events: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        task = asyncio.create_task(inbound.read(events.get))
        try:
            await events.put({"type": "websocket.receive", "bytes": first})
            await store.waiting.wait()  # the task holds the first, its append waiting
            store.held = False  # the store could commit now, but the first is not done

            assert inbound.receive_now(second) is False
            assert str(room.doc.get("content", type=Text)) == "one "

            await events.put({"type": "websocket.receive", "bytes": second})
            store.released.set()
            await store.two_appended.wait()
            # Nothing ahead of it now: handled, made durable and relayed within the call.
            assert inbound.receive_now(third) is True
            assert len(store.appended) == 3
            assert str(room.doc.get("content", type=Text)) == "one two three"
            seen, texts = Doc(), []
            for frame in wire.frames:
                message = decode(frame)
                if isinstance(message, SyncUpdate):
                    seen.apply_update(message.update)
                    texts.append(str(seen.get("content", type=Text)))
            assert texts == ["one ", "one two ", "one two three"]
        finally:
            await events.put({"type": "websocket.disconnect", "code": 1000})
            await task
