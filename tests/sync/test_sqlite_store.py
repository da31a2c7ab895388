"""The embedded store's group commit: appends of one loop turn share one transaction."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sync.sqlite_store import SqliteStore
from sync.store import StoreError
from sync.types import DocId, Origin
from tests.typing_doc import Typist, rebuild

DOC = DocId("group-commit")


async def test_appends_of_one_turn_get_increasing_ids_in_call_order(tmp_path: Path) -> None:
    typist = Typist()
    updates = [typist.type(f"{i} ") for i in range(50)]
    async with SqliteStore(tmp_path / "docs.db") as store:
        ids = await asyncio.gather(*(store.append(DOC, u, Origin("pod")) for u in updates))
        assert [int(i) for i in ids] == sorted(int(i) for i in ids)
        assert len(set(ids)) == len(ids)
        loaded = await store.load(DOC)
        assert loaded.updates == updates
        assert loaded.last_id == ids[-1]
    # and durable: a new process sees them
    async with SqliteStore(tmp_path / "docs.db") as again:
        assert rebuild((await again.load(DOC)).updates) == str(typist.text)


async def test_a_failed_commit_fails_every_append_of_its_turn_and_stores_none(
    tmp_path: Path,
) -> None:
    path = tmp_path / "docs.db"
    typist = Typist()
    async with SqliteStore(path) as store:
        await store.append(DOC, typist.type("kept "), Origin("pod"))
        with sqlite3.connect(path) as db:  # the disk refuses rows from one origin
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON updates WHEN NEW.origin = 'bad'"
                " BEGIN SELECT RAISE(ABORT, 'disk refused'); END"
            )
        results = await asyncio.gather(
            store.append(DOC, typist.type("a "), Origin("pod")),
            store.append(DOC, typist.type("b "), Origin("bad")),
            return_exceptions=True,
        )
        assert all(isinstance(r, StoreError) for r in results)
        assert rebuild((await store.load(DOC)).updates) == "kept "
        # the next turn commits again
        with sqlite3.connect(path) as db:
            db.execute("DROP TRIGGER refuse")
        later = Typist()
        update = later.type("c")
        await store.append(DOC, update, Origin("pod"))
        assert (await store.load(DOC)).updates[-1] == update


async def test_appends_pending_at_close_are_committed(tmp_path: Path) -> None:
    typist = Typist()
    # Not entered: no checkpointer task, so aclose has no await that would let the scheduled
    # commit run first. gather starts the append first: queued, its commit scheduled.
    store = SqliteStore(tmp_path / "docs.db")
    row_id, _ = await asyncio.gather(
        store.append(DOC, typist.type("last words"), Origin("pod")), store.aclose()
    )
    assert int(row_id) > 0
    async with SqliteStore(tmp_path / "docs.db") as again:
        assert rebuild((await again.load(DOC)).updates) == "last words"
