"""The embedded store's commits: the first append of a loop turn commits at once, the rest of
that turn share one transaction."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

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
            store.append(DOC, typist.type("lead "), Origin("pod")),  # first: commits alone
            store.append(DOC, typist.type("a "), Origin("pod")),
            store.append(DOC, typist.type("b "), Origin("bad")),
            return_exceptions=True,
        )
        assert not isinstance(results[0], BaseException)
        assert all(isinstance(r, StoreError) for r in results[1:])
        assert rebuild((await store.load(DOC)).updates) == "kept lead "
        # the next turn commits again
        with sqlite3.connect(path) as db:
            db.execute("DROP TRIGGER refuse")
        later = Typist()
        update = later.type("c")
        await store.append(DOC, update, Origin("pod"))
        assert (await store.load(DOC)).updates[-1] == update


async def test_a_lone_append_is_durable_before_the_loop_turns(tmp_path: Path) -> None:
    """The room relays an update right after its append: an append that waited for a turn
    of the loop to commit, and one more to wake its caller, would delay every relay."""
    typist = Typist()
    async with SqliteStore(tmp_path / "docs.db") as store:
        first = store.append(DOC, typist.type("now"), Origin("pod"))
        with pytest.raises(StopIteration) as done:
            first.send(None)  # runs to the end without suspending once
        assert int(done.value.value) > 0
        with sqlite3.connect(tmp_path / "docs.db") as db:  # another process sees it
            assert db.execute("SELECT COUNT(*) FROM updates").fetchone()[0] == 1


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


async def test_the_wal_is_truncated_past_its_limit_while_appends_never_pause(
    tmp_path: Path,
) -> None:
    """A passive checkpoint never catches up with appends that never pause, and SQLite only
    restarts a WAL that one has caught up with: without a truncation that holds appends back,
    this WAL grows to megabytes and stays there."""
    path = tmp_path / "docs.db"
    wal = tmp_path / "docs.db-wal"
    limit = 256 * 1024
    typist = Typist()
    updates = [typist.type(f"{i} ") for i in range(3000)]
    truncations = REGISTRY.get_sample_value("tandem_sqlite_wal_truncation_seconds_count") or 0.0
    async with SqliteStore(path, checkpoint_interval_s=0.02, wal_limit_bytes=limit) as store:
        for update in updates:  # one commit, at least one page written, per append
            await store.append(DOC, update, Origin("pod"))
        deadline = asyncio.get_running_loop().time() + 20
        while wal.stat().st_size > limit:
            assert asyncio.get_running_loop().time() < deadline, wal.stat().st_size
            await asyncio.sleep(0.02)  # polling the file with a deadline
        assert (await store.load(DOC)).updates == updates
    assert REGISTRY.get_sample_value("tandem_sqlite_wal_truncation_seconds_count") > truncations
    async with SqliteStore(path) as again:
        assert rebuild((await again.load(DOC)).updates) == str(typist.text)


async def test_appends_made_during_a_truncation_wait_for_it_and_are_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "docs.db"
    typist = Typist()
    async with SqliteStore(path, wal_limit_bytes=0) as store:
        await store.append(DOC, typist.type("before "), Origin("pod"))
        checkpointer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # gather starts the truncation first: it holds appends back, then waits on its thread.
        _, first, second = await asyncio.gather(
            store._truncate_wal(checkpointer),
            store.append(DOC, typist.type("a"), Origin("pod")),
            store.append(DOC, typist.type("b"), Origin("pod")),
        )
        checkpointer.close()
        assert int(first) < int(second)
        assert rebuild((await store.load(DOC)).updates) == "before ab"


async def test_a_reader_in_another_process_holds_appends_back_briefly_at_most(
    tmp_path: Path,
) -> None:
    """A truncation must wait for readers of older snapshots; it gives up after 100 ms and
    tries again next period instead of holding every append for SQLite's default 5 s."""
    path = tmp_path / "docs.db"
    typist = Typist()

    def attempts() -> float:
        return REGISTRY.get_sample_value("tandem_sqlite_wal_truncation_seconds_count") or 0.0

    async with SqliteStore(path, checkpoint_interval_s=0.05, wal_limit_bytes=0) as store:
        await store.append(DOC, typist.type("first "), Origin("pod"))
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM updates").fetchone()  # an old snapshot, held
        before = attempts()
        try:
            i = 0
            while attempts() < before + 3:  # appends across three refused truncations
                await asyncio.wait_for(
                    store.append(DOC, typist.type(f"{i} "), Origin("pod")), timeout=1.0
                )
                i += 1
        finally:
            reader.close()
        assert rebuild((await store.load(DOC)).updates) == str(typist.text)
