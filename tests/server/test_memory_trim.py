"""Freed memory goes back to the system after rooms unload, once per unloading, and the C
library's malloc_trim is found where there is one (glibc here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.memory_trim import MemoryTrim, libc_trim
from sync.limits import SyncLimits
from sync.rooms import Rooms
from sync.sqlite_store import SqliteStore
from sync.types import DocId, Origin
from tests.sync.test_room import connect


async def test_a_trim_follows_rooms_unloading_and_only_then(tmp_path: Path) -> None:
    calls: list[int] = []

    def trim(pad: int) -> int:
        calls.append(pad)
        return 1

    store = SqliteStore(tmp_path / "t.db")
    try:
        async with Rooms(store, origin=Origin("p"), limits=SyncLimits(room_grace_s=0.01)) as rooms:
            trimming = MemoryTrim(rooms, trim)
            await trimming.step()
            assert calls == []  # nothing was freed yet
            peer, _ = connect()
            room = await rooms.join(DocId("d"), peer)
            rooms.leave(room, peer)
            await asyncio.wait_for(room.wait_closed(), 2.0)
            assert rooms.get(DocId("d")) is None and rooms.unloaded == 1
            await trimming.step()
            await trimming.step()
            assert calls == [0] and trimming.trims == 1
            await MemoryTrim(rooms, None).step()  # no malloc_trim: nothing to call
    finally:
        await store.aclose()


def test_glibc_has_malloc_trim() -> None:
    trim = libc_trim()
    assert trim is not None and trim(0) in (0, 1)
