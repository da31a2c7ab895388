"""The sync core's hook for the edit history: after a client update is durable, listeners hear
which peer sent it and how much it inserted and deleted; server changes and remote relays are
not client edits, and a failing listener does not hurt the room."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text

from sync.changes import AppliedUpdate, change_size
from sync.limits import SyncLimits
from sync.peer import Peer
from sync.protocol import SyncUpdate
from sync.rooms import Rooms
from sync.sqlite_store import SqliteStore
from sync.types import DocId, Origin
from tests.sync.durable import durable_seqs
from tests.sync.test_room import MemoryTransport

DOC = DocId("doc-h")


async def test_listeners_hear_client_updates_after_they_are_durable(tmp_path: Path) -> None:
    heard: list[AppliedUpdate] = []
    durable: list[int] = []
    async with (
        SqliteStore(tmp_path / "t.db") as store,
        Rooms(store, origin=Origin("p"), limits=SyncLimits(), tell_interval_s=3600) as rooms,
    ):

        def listen(batch: list[AppliedUpdate]) -> None:
            durable_now = len(durable_seqs(tmp_path / "t.db"))
            for applied in batch:
                heard.append(applied)
                durable.append(durable_now)

        def broken(batch: list[AppliedUpdate]) -> None:
            raise RuntimeError("a listener bug")

        rooms.add_update_listener(broken)
        rooms.add_update_listener(listen)
        alice = Peer(MemoryTransport(), owner="alice")
        room = await rooms.join(DOC, alice)
        client = Doc()
        text = client.get("content", type=Text)
        started = time.time()
        before = client.get_state()
        text.insert(0, "Grüße 😀!")
        await room.handle(alice, SyncUpdate(client.get_update(before)))
        before = client.get_state()
        del text[0:2]  # "Gr"
        await room.handle(alice, SyncUpdate(client.get_update(before)))
        await room.handle(alice, SyncUpdate(client.get_update(before)))  # a resend: nothing
        await rooms.edit(DOC, lambda doc: doc.get("content", type=Text).insert(0, ">"))
        assert heard == []  # heard in batches, when the rooms tell
        rooms.tell_listeners()
        assert [(h.peer.owner, *change_size(h.update)) for h in heard] == [
            ("alice", 9, 0),  # 9 UTF-16 units: the emoji is two
            ("alice", 0, 2),
        ]
        assert durable == [3, 3]  # the two edits and the server's, all durable
        assert all(h.doc_id == DOC and started <= h.at <= time.time() for h in heard)
        rooms.tell_listeners()  # nothing new: nobody hears anything again
        assert len(heard) == 2
        rooms.leave(room, alice)


@pytest.mark.parametrize("tell_interval_s", [0.01, 3600], ids=["on-time", "at-close"])
async def test_the_rooms_tell_listeners_soon_after_an_update_and_when_they_close(
    tmp_path: Path, tell_interval_s: float
) -> None:
    batches: list[list[AppliedUpdate]] = []
    told = asyncio.Event()

    def listen(batch: list[AppliedUpdate]) -> None:
        batches.append(batch)
        told.set()

    async with (
        SqliteStore(tmp_path / "t.db") as store,
        Rooms(
            store, origin=Origin("p"), limits=SyncLimits(), tell_interval_s=tell_interval_s
        ) as rooms,
    ):
        rooms.add_update_listener(listen)
        alice = Peer(MemoryTransport(), owner="alice")
        room = await rooms.join(DOC, alice)
        client = Doc()
        client.get("content", type=Text).insert(0, "typed")
        await room.handle(alice, SyncUpdate(client.get_update()))
        if tell_interval_s < 1:
            await asyncio.wait_for(told.wait(), 5)  # told on time, nobody asked
            assert [len(b) for b in batches] == [1]
        else:
            assert batches == []
    assert [len(b) for b in batches] == [1]  # what was not told yet is told at the close


def _clock_growth(before: bytes, after: bytes) -> int:
    def vector(data: bytes) -> dict[int, int]:
        values, value, shift = [], 0, 0
        for byte in data:
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                values.append(value)
                value, shift = 0, 0
            else:
                shift += 7
        return dict(zip(values[1::2], values[2::2], strict=True))

    old = vector(before)
    return sum(clock - old.get(client, 0) for client, clock in vector(after).items())


def test_change_sizes_match_the_clocks_for_every_kind_of_content() -> None:
    """The state vectors are the oracle: every inserted unit advances its client's clock."""
    rng = random.Random(7)
    doc = Doc()
    seen: list[tuple[tuple[int, int], int]] = []
    deleting: set[int] = set()
    inserting: set[int] = set()

    def observe(event: Any) -> None:
        seen.append(
            (
                change_size(event.update),
                _clock_growth(event.before_state, event.after_state),
            )
        )

    doc.observe(observe)
    text, things, items = (
        doc.get("content", type=Text),
        doc.get("m", type=Map),
        doc.get("a", type=Array),
    )
    values: list[Any] = [1, -70000, 2.5, "ü😀", None, True, [1, "x", {"k": [2.0]}], {"a": 1}]
    formatted: set[int] = set()
    for step in range(300):
        choice = rng.randrange(6)
        if choice == 5:
            formatted.add(step)
        if choice == 0 or not str(text):
            inserting.add(step)
            text.insert(len(str(text).encode()) // 2, rng.choice(["a", "Grüße 😀", "\n", "xyz"]))
        elif choice == 1:
            deleting.add(step)
            del text[0 : min(1, len(str(text).encode()))]
        elif choice == 2:
            things[f"k{rng.randrange(5)}"] = rng.choice(values)
        elif choice == 3:
            inserting.add(step)
            items.append(rng.choice(values))
        elif choice == 4:
            things[f"t{step}"] = Text("nested ü")
        else:
            text.insert(0, "bold", attrs={"bold": True})
    assert len(seen) == 300 and deleting and inserting
    for step, ((inserted, deleted), growth) in enumerate(seen):
        # Formatting marks advance the clock too, but are no text anyone typed.
        assert inserted == (4 if step in formatted else growth), step
        if step in deleting:
            assert deleted > 0, step
        elif step in inserting:
            assert deleted == 0, step
