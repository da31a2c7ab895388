"""The embedded store: appends are written to the front log in the caller's step and drained
into SQLite in batches on a thread; what a crash leaves in the front log is recovered at the
next start."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from sync.front_log import Record, encode_record, front_log_paths, read_front_logs
from sync.sqlite_store import SqliteStore
from sync.store import DocState, StoreError
from sync.types import DocId, Origin
from tests.sync.durable import durable_seqs
from tests.typing_doc import Typist, rebuild

DOC = DocId("group-commit")


async def test_appends_get_increasing_ids_in_call_order(tmp_path: Path) -> None:
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


async def test_a_failed_drain_keeps_every_append_for_a_later_one(tmp_path: Path) -> None:
    path = tmp_path / "docs.db"
    typist = Typist()
    async with SqliteStore(path) as store:
        await store.append(DOC, typist.type("kept "), Origin("pod"))
        with sqlite3.connect(path) as db:  # the disk refuses rows from one origin
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON updates WHEN NEW.origin = 'bad'"
                " BEGIN SELECT RAISE(ABORT, 'disk refused'); END"
            )
        await store.append(DOC, typist.type("a "), Origin("pod"))
        await store.append(DOC, typist.type("b "), Origin("bad"))
        assert not await store.drain()  # fails, the whole batch with it
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT COUNT(*) FROM updates").fetchone()[0] <= 1
        assert rebuild((await store.load(DOC)).updates) == "kept a b "
        assert (await store.stats(DOC)).entries == 3
        with sqlite3.connect(path) as db:
            db.execute("DROP TRIGGER refuse")
        # closing drains what is left
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM updates").fetchone()[0] == 3
    async with SqliteStore(path) as again:
        assert rebuild((await again.load(DOC)).updates) == "kept a b "


async def test_appends_made_while_a_drain_runs_stay_in_the_front_log(tmp_path: Path) -> None:
    """A drain empties only the file it moved into SQLite: appends made while it ran went to
    the other one, and survive a crash right after it."""
    path = tmp_path / "docs.db"
    typist = Typist()
    async with SqliteStore(path, turn_s=3600) as store:
        await store.append(DOC, typist.type("first "), Origin("pod"))
        async with store._write_lock:  # the drain waits behind this
            store._start_drain()
            during = await store.append(DOC, typist.type("during"), Origin("pod"))
            assert rebuild((await store.load(DOC)).updates) == "first during"
            assert (await store.stats(DOC)).entries == 2
        assert store._draining is not None
        await asyncio.wait([store._draining])
        # What a crash now would find: the first in SQLite, the second in the front log.
        assert [record.seq for record in read_front_logs(path)] == [int(during)] == [2]
        assert durable_seqs(path) == {1, 2}
        assert await store.drain()
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT seq FROM updates").fetchall() == [(1,), (2,)]


async def test_a_drain_spans_turns_of_the_loop_and_counts_each_update_once(
    tmp_path: Path,
) -> None:
    typist = Typist()
    updates = [typist.type(f"{i} ") for i in range(100)]
    async with SqliteStore(tmp_path / "docs.db", turn_s=3600) as store:
        for update in updates:
            await store.append(DOC, update, Origin("pod"))
        chunks = store._insert_in_chunks(list(store._undrained[DOC]))
        chunks.send(None)  # its first chunk is in; it yields the loop before the next one
        assert (await store.stats(DOC)).entries == len(updates)
        assert (await store.load(DOC)).updates == updates
        with pytest.raises(StopIteration):
            while True:
                chunks.send(None)  # the rest, and the commit
        assert (await store.stats(DOC)).entries == len(updates)
        assert (await store.load(DOC)).updates == updates
        assert await store.drain()
        assert store._undrained == {}
        assert (await store.stats(DOC)).entries == len(updates)


async def test_a_crash_in_the_middle_of_a_drain_leaves_both_files_and_loses_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "docs.db"
    draining, active = front_log_paths(path)[::-1]
    typist = Typist()
    updates = [typist.type(f"{i} ") for i in range(4)]
    records = [Record(i + 1, DOC, "pod", u, 1.0) for i, u in enumerate(updates)]
    # The first two were being moved from one file (one of them had made it to SQLite);
    # the last two had gone to the other file meanwhile, the last one torn.
    async with SqliteStore(path) as store:
        pass
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO updates (seq, doc_id, origin, data, created) VALUES (1, ?, 'pod', ?, 1)",
            (DOC, updates[0]),
        )
    draining.write_bytes(b"".join(encode_record(r) for r in records[:2]))
    active.write_bytes(encode_record(records[2]) + encode_record(records[3])[:-3])
    async with SqliteStore(path) as store:
        assert (await store.load(DOC)).updates == updates[:3]
        assert draining.stat().st_size == active.stat().st_size == 0
        assert int(await store.append(DOC, typist.type("next"), Origin("pod"))) == 4


async def test_a_front_log_that_cannot_be_recovered_at_start_is_drained_later(
    tmp_path: Path,
) -> None:
    path = tmp_path / "docs.db"
    typist = Typist()
    updates = [typist.type(f"{i} ") for i in range(3)]
    async with SqliteStore(path) as store:
        pass
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON updates"
            " BEGIN SELECT RAISE(ABORT, 'disk refused'); END"
        )
    front_log_paths(path)[0].write_bytes(
        b"".join(encode_record(Record(i + 1, DOC, "pod", u, 1.0)) for i, u in enumerate(updates))
    )
    async with SqliteStore(path, turn_s=3600) as store:
        assert (await store.load(DOC)).updates == updates
        later = await store.append(DOC, typist.type("later"), Origin("pod"))
        assert not await store.drain()
        with sqlite3.connect(path) as db:
            db.execute("DROP TRIGGER refuse")
        assert await store.drain()
        assert read_front_logs(path) == []
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT COUNT(*) FROM updates").fetchone()[0] == 4
    assert int(later) == 4


_CRASH = """
import asyncio, os, signal, sys
from pathlib import Path
from sync.sqlite_store import SqliteStore
from sync.types import DocId, Origin

async def main() -> None:
    store = SqliteStore(Path(sys.argv[1]), turn_s=3600)
    for i, chunk in enumerate(sys.argv[2:]):
        append = store.append(DocId("group-commit"), bytes.fromhex(chunk), Origin("pod"))
        try:
            append.send(None)
        except StopIteration:
            pass  # done in the caller's step
        else:
            raise SystemExit("the append suspended")
        if i == 1:
            await store.drain()  # the first two reach SQLite
    os.kill(os.getpid(), signal.SIGKILL)  # before the loop turns again

asyncio.run(main())
"""


def test_an_append_survives_kill_9_before_the_loop_turns(tmp_path: Path) -> None:
    """The room relays an update right after its append returns, in the same step: the
    update must be durable by then, drained into SQLite or not."""
    path = tmp_path / "docs.db"
    typist = Typist()
    updates = [typist.type(f"{i} ") for i in range(5)]
    child = subprocess.run(
        [sys.executable, "-c", _CRASH, str(path), *(u.hex() for u in updates)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    with sqlite3.connect(path) as db:  # drained before the kill: only the first two
        assert db.execute("SELECT COUNT(*) FROM updates").fetchone()[0] == 2
    asyncio.run(_reopen_and_check(path, updates))


async def _reopen_and_check(path: Path, updates: list[bytes]) -> None:
    async with SqliteStore(path, writer=False) as reader:  # before any writer recovers them
        assert (await reader.load(DOC)).updates == updates
    async with SqliteStore(path) as store:
        loaded = await store.load(DOC)
        assert loaded.updates == updates
        assert loaded.last_id is not None and int(loaded.last_id) == 5
        later = Typist()
        assert int(await store.append(DOC, later.type("x"), Origin("pod"))) == 6


async def test_a_torn_record_is_cut_off_and_what_came_before_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "docs.db"
    front = tmp_path / "docs.db-front"
    typist = Typist()
    updates = [typist.type(f"{i} ") for i in range(3)]
    for size in (len(encode_record(Record(1, DOC, "pod", updates[0], 0.0))) - 1, 0):
        front.write_bytes(b"")
        records = [Record(i + 1, DOC, "pod", u, 1.0) for i, u in enumerate(updates)]
        whole = b"".join(encode_record(r) for r in records)
        torn = encode_record(Record(4, DOC, "pod", typist.type("lost"), 1.0))[:size] or b"\x07"
        front.write_bytes(whole + torn)  # what a crash in the middle of a write leaves
        path.unlink(missing_ok=True)
        async with SqliteStore(path) as store:
            assert (await store.load(DOC)).updates == updates
            assert front.stat().st_size == 0  # drained, and emptied
            await store.append(DOC, b"\x00\x00", Origin("pod"))  # an empty update
        async with SqliteStore(path) as again:
            assert (await again.load(DOC)).updates == [*updates, b"\x00\x00"]


async def test_a_second_writer_is_refused_and_a_reader_sees_every_append(tmp_path: Path) -> None:
    path = tmp_path / "docs.db"
    typist = Typist()
    async with SqliteStore(path, turn_s=3600) as writer:
        await writer.append(DOC, typist.type("drained "), Origin("pod"))
        assert await writer.drain()
        await writer.append(DOC, typist.type("undrained"), Origin("pod"))  # front log only
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT COUNT(*) FROM updates").fetchone()[0] == 1
        with pytest.raises(StoreError, match="in use by another process"):
            SqliteStore(path)
        async with SqliteStore(path, writer=False) as reader:
            assert writer.writer and not reader.writer
            assert rebuild((await reader.load(DOC)).updates) == "drained undrained"
            with pytest.raises(StoreError, match="read only"):
                await reader.append(DOC, typist.type("refused"), Origin("pod"))
            with pytest.raises(StoreError, match="read only"):
                await reader.compact(DOC)
        assert rebuild((await writer.load(DOC)).updates) == "drained undrained"
    async with SqliteStore(path) as next_writer:  # the lock went with the first writer
        assert rebuild((await next_writer.load(DOC)).updates) == "drained undrained"


async def test_appends_past_the_undrained_limit_are_refused(tmp_path: Path) -> None:
    """When drains keep failing, memory holding undrained updates stays bounded."""
    path = tmp_path / "docs.db"
    typist = Typist()
    async with SqliteStore(path, max_undrained_bytes=100) as store:
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON updates"
                " BEGIN SELECT RAISE(ABORT, 'disk refused'); END"
            )
        kept = 0
        with pytest.raises(StoreError, match="wait to reach SQLite"):
            while True:
                await store.append(DOC, typist.type("0123456789"), Origin("pod"))
                kept += 1
        assert kept >= 1
        assert len((await store.load(DOC)).updates) == kept
        with sqlite3.connect(path) as db:
            db.execute("DROP TRIGGER refuse")


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
    async with SqliteStore(
        path, checkpoint_interval_s=0.02, wal_limit_bytes=limit, turn_s=3600
    ) as store:
        for update in updates:  # a drain, at least one page written, per append
            await store.append(DOC, update, Origin("pod"))
            assert await store.drain()  # the checkpointer runs meanwhile, on its own thread
        deadline = asyncio.get_running_loop().time() + 20
        while wal.stat().st_size > limit:
            assert asyncio.get_running_loop().time() < deadline, wal.stat().st_size
            await asyncio.sleep(0.02)  # polling the file with a deadline
        assert (await store.load(DOC)).updates == updates
    assert REGISTRY.get_sample_value("tandem_sqlite_wal_truncation_seconds_count") > truncations
    async with SqliteStore(path) as again:
        assert rebuild((await again.load(DOC)).updates) == str(typist.text)


async def test_appends_made_during_a_truncation_do_not_wait_and_are_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "docs.db"
    typist = Typist()
    async with SqliteStore(path, wal_limit_bytes=0) as store:
        await store.append(DOC, typist.type("before "), Origin("pod"))
        checkpointer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        truncation = asyncio.create_task(store._truncate_wal(checkpointer))
        await asyncio.sleep(0)  # its first step: it holds drains back, then waits on its thread
        assert not store._writable.is_set()
        ids = []
        for chunk in "ab":
            append = store.append(DOC, typist.type(chunk), Origin("pod"))
            with pytest.raises(StopIteration) as done:
                append.send(None)  # does not wait for the truncation
            ids.append(int(done.value.value))
        assert not truncation.done()
        assert rebuild((await store.load(DOC)).updates) == "before ab"
        await truncation
        checkpointer.close()
        assert ids[0] < ids[1]
    async with SqliteStore(path) as again:
        assert rebuild((await again.load(DOC)).updates) == "before ab"


async def test_a_reader_in_another_process_holds_drains_back_briefly_at_most(
    tmp_path: Path,
) -> None:
    """A truncation must wait for readers of older snapshots; it gives up after 100 ms and
    tries again next period instead of holding every drain for SQLite's default 5 s."""
    path = tmp_path / "docs.db"
    typist = Typist()

    def attempts() -> float:
        return REGISTRY.get_sample_value("tandem_sqlite_wal_truncation_seconds_count") or 0.0

    async with SqliteStore(
        path, checkpoint_interval_s=0.05, wal_limit_bytes=0, turn_s=0.005
    ) as store:
        await store.append(DOC, typist.type("first "), Origin("pod"))
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM updates").fetchone()  # an old snapshot, held
        before = attempts()
        try:
            i = 0
            while attempts() < before + 3:  # appends across three refused truncations
                await store.append(DOC, typist.type(f"{i} "), Origin("pod"))
                i += 1
                await asyncio.sleep(0.005)  # the pace of the appends, not a wait for anything
        finally:
            reader.close()
        assert rebuild((await store.load(DOC)).updates) == str(typist.text)
        with sqlite3.connect(path) as db:  # and the drains went on once it let go
            assert db.execute("SELECT COUNT(*) FROM updates").fetchone()[0] > 0


def _stored_seqs(path: Path) -> list[int]:
    """The seqs of the updates SQLite holds as rows, in order."""
    with sqlite3.connect(path) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM updates ORDER BY seq")]


async def _turn(store: SqliteStore) -> None:
    """One turn of the front log's files, as its timer makes it, and the drain it starts."""
    store._turn()
    if store._draining is not None:
        await asyncio.wait([store._draining])


async def test_an_update_waits_a_turn_in_the_front_log_before_it_is_drained(
    tmp_path: Path,
) -> None:
    path = tmp_path / "docs.db"
    typist = Typist()
    async with SqliteStore(path, turn_s=3600) as store:
        await store.append(DOC, typist.type("first "), Origin("pod"))
        await _turn(store)  # the files swap: the first one now waits in the inactive file
        assert _stored_seqs(path) == []
        await store.append(DOC, typist.type("second"), Origin("pod"))
        await _turn(store)  # the inactive file is drained, then they swap again
        assert _stored_seqs(path) == [1]
        assert [record.seq for record in read_front_logs(path)] == [2]
        assert durable_seqs(path) == {1, 2}
        assert rebuild((await store.load(DOC)).updates) == "first second"
        assert (await store.stats(DOC)).entries == 2
        await _turn(store)
        assert _stored_seqs(path) == [1, 2]
        assert read_front_logs(path) == []
        assert store._turn_timer is None  # nothing left to turn: no timer while idle


async def test_a_document_compacted_within_a_turn_never_has_its_updates_in_sqlite(
    tmp_path: Path,
) -> None:
    path = tmp_path / "docs.db"
    typist = Typist()
    drains = REGISTRY.get_sample_value("tandem_sqlite_drain_entries_sum") or 0.0
    async with SqliteStore(path, turn_s=3600) as store:
        for i in range(5):
            await store.append(DOC, typist.type(f"{i} "), Origin("pod"))
        await _turn(store)
        assert await store.compact(DOC)
        assert store._undrained == {}
        await _turn(store)  # drains nothing, empties the file
        assert read_front_logs(path) == []
        assert _stored_seqs(path) == []
        assert rebuild((await store.load(DOC)).updates) == str(typist.text)
    assert REGISTRY.get_sample_value("tandem_sqlite_drain_entries_sum") == drains
    async with SqliteStore(path) as again:
        assert rebuild((await again.load(DOC)).updates) == str(typist.text)


async def test_the_active_file_turns_early_once_it_holds_turn_bytes(tmp_path: Path) -> None:
    path = tmp_path / "docs.db"
    typist = Typist()
    async with SqliteStore(path, turn_s=3600, turn_bytes=1000) as store:
        for _ in range(100):
            await store.append(DOC, typist.type("0123456789"), Origin("pod"))
            if store._inactive_upto is not None:
                break
        else:
            pytest.fail("no turn past turn_bytes")
        assert store._front is not None and store._front.active_bytes == 0
        # The append that took the file past 1,000 bytes turned it, not an earlier one.
        records = [encode_record(record) for record in read_front_logs(path)]
        assert sum(map(len, records)) - len(records[-1]) < 1000 <= sum(map(len, records))
        assert rebuild((await store.load(DOC)).updates) == str(typist.text)


async def test_a_recovery_skips_the_updates_a_snapshot_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "docs.db"
    typist = Typist()
    async with SqliteStore(path, turn_s=3600) as store:
        for i in range(3):
            await store.append(DOC, typist.type(f"{i} "), Origin("pod"))
        assert await store.compact(DOC)
        await store.append(DOC, typist.type("after"), Origin("pod"))
        # What a kill -9 now would leave: the folded ones are still in the front log.
        assert [record.seq for record in read_front_logs(path)] == [1, 2, 3, 4]
        left = [p.read_bytes() for p in front_log_paths(path)]
    for file, data in zip(front_log_paths(path), left, strict=True):
        file.write_bytes(data)
    async with SqliteStore(path) as again:
        assert rebuild((await again.load(DOC)).updates) == "0 1 2 after"
        assert _stored_seqs(path) == [4]
        assert read_front_logs(path) == []


async def test_a_snapshot_from_a_rooms_state_keeps_the_entries_that_came_after_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "docs.db"
    typist = Typist()
    async with SqliteStore(path, turn_s=3600) as store:
        ids = [await store.append(DOC, typist.type(f"{i} "), Origin("pod")) for i in range(3)]
        state = DocState(typist.doc.get_update(), ids[-1])
        later = await store.append(DOC, typist.type("later"), Origin("pod"))
        assert await store.compact(DOC, state)
        loaded = await store.load(DOC)
        assert len(loaded.updates) == 2 and loaded.last_id == later  # the snapshot, then "later"
        assert rebuild(loaded.updates) == "0 1 2 later"
        await _turn(store)
        await _turn(store)
        assert _stored_seqs(path) == [int(later)]  # only the entry the snapshot does not hold
    async with SqliteStore(path) as again:
        assert rebuild((await again.load(DOC)).updates) == "0 1 2 later"
