"""The worker in-process on real rooms (SQLite store), the real model client and the scripted
model server: an internal failure ends the suggestion as failed (an in-process queue never
hands a job out again) and the worker goes on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from assistant import anchors, board
from assistant.limits import MemoryLimiter
from assistant.model_client import ModelClient, ModelConfig
from assistant.queue import MemoryQueue
from assistant.sqlite_records import SqliteRecords
from assistant.types import Job, Mode
from assistant.worker import Worker, WorkerConfig
from sync.limits import SyncLimits
from sync.rooms import Rooms
from sync.sqlite_store import SqliteStore
from sync.types import DocId, Origin
from tests.modelserver import ModelServer, Reply


class InstructionsDown:
    """The workspace-instructions lookup fails once, as a database outage would."""

    def __init__(self) -> None:
        self.failed = False

    async def __call__(self, workspace_id: str) -> str:
        if not self.failed:
            self.failed = True
            raise OSError("database unreachable")
        return ""


@pytest.fixture
async def rooms(tmp_path: Path) -> AsyncIterator[Rooms]:
    async with (
        SqliteStore(tmp_path / "tandem.db") as store,
        Rooms(store, origin=Origin("test"), limits=SyncLimits()) as opened,
    ):
        yield opened


async def queue_job(rooms: Rooms, doc_id: str, sid: str, text: str, selected: int = 4) -> Job:
    def write(doc: Doc) -> None:
        doc.get("content", type=Text).insert(0, text)

    await rooms.edit(DocId(doc_id), write)

    def anchor(doc: Doc) -> tuple[str, str]:
        content = doc.get("content", type=Text)
        return anchors.encode(content, 0), anchors.encode(content, selected)

    start, end = await rooms.edit(DocId(doc_id), anchor)
    original = text[:selected]
    fields = {"id": sid, "doc_id": doc_id, "mode": "rewrite", "original": original}
    fields |= {"anchor_start": start, "anchor_end": end}
    await rooms.edit(DocId(board.board_id(doc_id)), lambda doc: board.create(doc, fields))
    return Job(sid, doc_id, "w", "u", "alice", Mode.REWRITE, "x", original, "", text[selected:])


def worker_on(
    rooms: Rooms,
    client: ModelClient,
    records: SqliteRecords,
    loops: int,
    edit: Any = None,
    **options: Any,
) -> Worker:
    return Worker(
        edit or rooms.edit,
        client,
        records,
        MemoryLimiter(100, 100, 60),
        WorkerConfig(workers=loops),
        **options,
    )


async def test_internal_failure_fails_the_suggestion_and_the_worker_goes_on(
    tmp_path: Path, rooms: Rooms
) -> None:
    async with ModelServer(default=Reply("done")) as model, SqliteRecords(tmp_path / "a.db") as rec:
        client = ModelClient(ModelConfig(base_url=model.base_url, api_key="k", model="m"))
        worker = worker_on(rooms, client, rec, 1, instructions=InstructionsDown())
        queue = MemoryQueue(10)
        serving = asyncio.get_running_loop().create_task(worker.serve(queue, "t"))
        try:
            for sid in ("s1", "s2"):
                job = await queue_job(rooms, f"doc-{sid}", sid, "text here")
                await rec.create(
                    {
                        "id": sid,
                        "workspace_id": "w",
                        "doc_id": job.doc_id,
                        "created_at": time.time(),
                    }
                )
                await queue.put(job)
            deadline = time.monotonic() + 15
            while worker.processed < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)  # polling the worker's counter with a deadline
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await client.aclose()
        first = await rooms.edit(DocId("doc-s1:suggestions"), lambda d: board.read(d, "s1"))
        second = await rooms.edit(DocId("doc-s2:suggestions"), lambda d: board.read(d, "s2"))
    assert first["status"] == "failed" and "internally" in first["error"]
    assert second["status"] == "pending" and second["proposal"] == "done"


async def test_a_drain_lets_the_job_under_way_finish_and_takes_no_more(
    tmp_path: Path, rooms: Rooms
) -> None:
    """Shutdown (SIGTERM, a rolling deploy): a stream cut short would be started over by
    whoever reclaims it, so the job under way finishes; idle loops stop at once."""
    reply = Reply(tokens=["one ", "two ", "three ", "four"], rate_per_s=10)
    async with ModelServer(default=reply) as model, SqliteRecords(tmp_path / "a.db") as rec:
        client = ModelClient(ModelConfig(base_url=model.base_url, api_key="k", model="m"))
        board_doc = DocId("doc-d1:suggestions")
        streaming = asyncio.Event()

        async def suggestion(sid: str) -> dict[str, object]:
            return await rooms.edit(board_doc, lambda d: board.read(d, sid))  # type: ignore[no-any-return]

        async def edit(doc_id: DocId, change: Any) -> Any:
            """The worker's own writes, noting when the first words are in."""
            result = await rooms.edit(doc_id, change)
            if doc_id == board_doc and (await suggestion("d1")).get("proposal"):
                streaming.set()
            return result

        worker = worker_on(rooms, client, rec, 2, edit)  # one busy, one waiting for a job
        queue = MemoryQueue(10)
        serving = asyncio.get_running_loop().create_task(worker.serve(queue, "t"))

        try:
            job = await queue_job(rooms, "doc-d1", "d1", "text here")
            await rec.create(
                {"id": "d1", "workspace_id": "w", "doc_id": job.doc_id, "created_at": time.time()}
            )
            await queue.put(job)
            await asyncio.wait_for(streaming.wait(), 15)
            worker.drain()
            await queue.put(await queue_job(rooms, "doc-d2", "d2", "more text"))
            await asyncio.wait_for(serving, 15)  # returns by itself: nothing cancelled it
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await client.aclose()
        done = await suggestion("d1")
    assert done["status"] == "pending" and done["proposal"] == "one two three four"
    assert worker.processed == 1
    assert await queue.depth() == 1  # the job queued after the drain was left alone


async def test_the_record_keeps_the_proposal_as_shown_with_the_secret_put_back(
    tmp_path: Path, rooms: Rooms, caplog: pytest.LogCaptureFixture
) -> None:
    """The learning loop labels from what became of the proposal: the record's output is the
    text people saw and accepted, not the placeholders (its dataset redacts again). No log
    line names the secret."""
    caplog.set_level(logging.DEBUG)
    key = "AKIAIOSFODNN7EXAMPLE"
    reply = Reply(tokens=["key: [REDAC", "TED:aws_acc", "ess_key#1]", " done"])
    async with ModelServer(default=reply) as model, SqliteRecords(tmp_path / "a.db") as rec:
        client = ModelClient(ModelConfig(base_url=model.base_url, api_key="k", model="m"))
        try:
            job = await queue_job(rooms, "doc-k", "k1", f"key = {key} and more", selected=26)
            await rec.create(
                {"id": "k1", "workspace_id": "w", "doc_id": "doc-k", "created_at": 0.0}
            )
            assert await worker_on(rooms, client, rec, 1).process(job) == "pending"
        finally:
            await client.aclose()
        shown = await rooms.edit(DocId("doc-k:suggestions"), lambda d: board.read(d, "k1"))
        record = await rec.get("k1")
    assert shown["proposal"] == f"key: {key} done" and shown["unrestorable"] == []
    assert record is not None and record["output"] == shown["proposal"]
    assert record["unrestorable"] == []
    assert caplog.records and key not in caplog.text
    assert (
        key not in str(record["prompt"]) and "[REDACTED:aws_access_key#1]" in model.requests[0].text
    )
