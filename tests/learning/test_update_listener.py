"""The sync core's hook for the edit history: after a client update is durable, listeners hear
which peer sent it and how much it inserted and deleted; server changes and remote relays are
not client edits, and a failing listener does not hurt the room."""

from __future__ import annotations

from pathlib import Path

from pycrdt import Doc, Text

from sync.changes import AppliedUpdate
from sync.limits import SyncLimits
from sync.peer import Peer
from sync.protocol import SyncUpdate
from sync.rooms import Rooms
from sync.sqlite_store import SqliteStore
from sync.types import DocId, Origin
from tests.sync.test_room import MemoryTransport

DOC = DocId("doc-h")


async def test_listeners_hear_client_updates_after_they_are_durable(tmp_path: Path) -> None:
    heard: list[AppliedUpdate] = []
    durable: list[int] = []
    async with (
        SqliteStore(tmp_path / "t.db") as store,
        Rooms(store, origin=Origin("p"), limits=SyncLimits()) as rooms,
    ):

        def listen(applied: AppliedUpdate) -> None:
            heard.append(applied)
            durable.append(len(store._db.execute("SELECT seq FROM updates").fetchall()))

        def broken(applied: AppliedUpdate) -> None:
            raise RuntimeError("a listener bug")

        rooms.add_update_listener(broken)
        rooms.add_update_listener(listen)
        alice = Peer(MemoryTransport(), owner="alice")
        room = await rooms.join(DOC, alice)
        client = Doc()
        text = client.get("content", type=Text)
        before = client.get_state()
        text.insert(0, "Grüße 😀!")
        await room.handle(alice, SyncUpdate(client.get_update(before)))
        before = client.get_state()
        del text[0:2]  # "Gr"
        await room.handle(alice, SyncUpdate(client.get_update(before)))
        await room.handle(alice, SyncUpdate(client.get_update(before)))  # a resend: nothing
        await rooms.edit(DOC, lambda doc: doc.get("content", type=Text).insert(0, ">"))
        assert [(h.peer.owner, h.inserted, h.deleted) for h in heard] == [
            ("alice", 9, 0),  # 9 UTF-16 units: the emoji is two
            ("alice", 0, 2),
        ]
        assert durable == [1, 2]
        assert all(h.doc_id == DOC for h in heard)
        rooms.leave(room, alice)
