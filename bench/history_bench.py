"""What the edit history costs the sync path: a room applying single-keystroke client updates
with and without the history's update listener (change sizes plus the recorder's in-memory
fold, heard in one batch; its batched writes happen off this path).

    .venv/bin/python bench/history_bench.py [--updates 5000] [--clients 200]

``--clients`` past writers are merged into the document first: the cost must not grow with
them. Prints microseconds per update (median of rounds) for both, and the difference."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.history.recorder import HistoryLimits, HistoryRecorder
from sync.limits import SyncLimits
from sync.peer import Peer
from sync.protocol import SyncUpdate
from sync.rooms import Rooms
from sync.sqlite_store import SqliteStore
from sync.types import DocId, Origin


class _Sink:
    def send_now(self, frame: bytes) -> bool:
        return True

    async def send(self, frame: bytes) -> None:
        pass

    async def close(self, code: int, reason: str) -> None:
        pass


class _Owner:
    user_id = "u1"
    username = "alice"


def _history(clients: int) -> bytes:
    doc = Doc()
    text = doc.get("content", type=Text)
    for _ in range(clients):
        other = Doc()
        other.apply_update(doc.get_update())
        other.get("content", type=Text).insert(0, "0123456789")
        doc.apply_update(other.get_update(doc.get_state()))
    text.insert(0, "")
    return doc.get_update()


async def _round(updates: int, seed: bytes, listen: bool, workdir: Path) -> float:
    async with (
        SqliteStore(workdir / f"bench-{time.monotonic_ns()}.db") as store,
        Rooms(store, origin=Origin("bench"), limits=SyncLimits()) as rooms,
    ):
        if listen:
            recorder: Any = HistoryRecorder(
                None,  # type: ignore[arg-type] - the fold never touches the store
                rooms,
                None,  # type: ignore[arg-type]
                pod="bench",
                limits=HistoryLimits(flush_s=3600),
            )
            rooms.add_update_listener(recorder.on_updates)
        doc_id = DocId("bench-doc")
        peer = Peer(_Sink(), owner=_Owner())
        room = await rooms.join(doc_id, peer)
        await room.handle(peer, SyncUpdate(seed))
        client = Doc()
        client.apply_update(seed)
        text = client.get("content", type=Text)
        frames = []
        for i in range(updates):
            before = client.get_state()
            text.insert(len(str(text)), "abcdefghij"[i % 10])
            frames.append(SyncUpdate(client.get_update(before)))
        started = time.perf_counter()
        for frame in frames:
            await room.handle(peer, frame)
        rooms.tell_listeners()  # the listeners' batch, inside the time
        elapsed = time.perf_counter() - started
        rooms.leave(room, peer)
    return elapsed / updates * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    seed = _history(args.clients)
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for listen in (False, True):
                results[listen].append(await _round(args.updates, seed, listen, Path(tmp)))
    without, with_ = (statistics.median(results[k]) for k in (False, True))
    print(f"updates per round {args.updates}, past clients {args.clients}")
    print(f"without history  {without:8.1f} us/update")
    print(f"with history     {with_:8.1f} us/update   (+{with_ - without:.1f} us)")


if __name__ == "__main__":
    asyncio.run(main())
