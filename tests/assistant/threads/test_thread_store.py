"""One contract for the thread store, run on SQLite and on the MongoDB wire protocol."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from assistant.threads.mongo_store import MongoThreads
from assistant.threads.sqlite_store import SqliteThreads
from assistant.threads.store import AnswerStatus, Message, Role, Thread, ThreadStore
from tests.mongo import MongoServer


@pytest.fixture(params=["sqlite", "mongo"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_server: MongoServer
) -> AsyncIterator[ThreadStore]:
    if request.param == "sqlite":
        async with SqliteThreads(tmp_path / "threads.db") as sqlite:
            yield sqlite
        return
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_server.url(), serverSelectionTimeoutMS=5000
    )
    mongo = MongoThreads(client.get_default_database())
    await mongo.ensure_indexes()
    try:
        yield mongo
    finally:
        await client.close()


def thread(tid: str, ws: str = "w1", at: float = 100.0, **fields: Any) -> Thread:
    return Thread.from_dict(
        {
            "id": tid,
            "workspace_id": ws,
            "title": f"about {tid}",
            "created_by": "u1",
            "created_by_name": "alice",
            "created_at": at,
            "updated_at": at,
            **fields,
        }
    )


def message(mid: str, tid: str = "t1", ws: str = "w1", at: float = 200.0, **fields: Any) -> Message:
    return Message.from_dict(
        {
            "id": mid,
            "thread_id": tid,
            "workspace_id": ws,
            "role": Role.USER,
            "author_name": "alice",
            "author_id": "u1",
            "text": f"text of {mid}",
            "created_at": at,
            **fields,
        }
    )


async def test_creating_a_thread_twice_keeps_the_first(store: ThreadStore) -> None:
    first = thread("t1", doc_id="d1", answer_every=True)
    await store.create_thread(first)
    await store.create_thread(thread("t1", title="other"))
    assert await store.get_thread("t1") == first
    assert await store.get_thread("missing") is None
    assert [t.id for t in await store.threads("w1")] == ["t1"]


async def test_adding_a_message_twice_returns_the_stored_one(store: ThreadStore) -> None:
    await store.create_thread(thread("t1"))
    added = await store.add_message(message("m1"))
    again = await store.add_message(message("m1", at=300.0, text="changed"))
    assert again == added and again.text == "text of m1" and again.seq == 1
    assert await store.messages("t1") == [added]
    thread_now = await store.get_thread("t1")
    assert thread_now is not None and thread_now.updated_at == 200.0
    assert (await store.add_message(message("m2"))).seq == 2


async def test_concurrent_adds_of_one_message_store_it_once(store: ThreadStore) -> None:
    await store.create_thread(thread("t1"))
    # Several rounds of many racers: each round, some pass the lookup before any inserts.
    seqs = []
    for mid in ("m1", "m2", "m3", "m4", "m5"):
        results = await asyncio.gather(*(store.add_message(message(mid)) for _ in range(10)))
        assert len({(m.id, m.seq) for m in results}) == 1
        seqs.append(results[0].seq)
    assert seqs == sorted(set(seqs)) and seqs[0] >= 1
    assert [(m.id, m.seq) for m in await store.messages("t1")] == list(
        zip(["m1", "m2", "m3", "m4", "m5"], seqs, strict=True)
    )


async def test_seq_counts_from_one_in_each_thread(store: ThreadStore) -> None:
    await store.create_thread(thread("t1"))
    await store.create_thread(thread("t2"))
    for mid, tid in (("a", "t1"), ("b", "t2"), ("c", "t1"), ("d", "t1"), ("e", "t2")):
        added = await store.add_message(message(mid, tid=tid, seq=99))
        stored = await store.get_message(mid)
        assert stored is not None and stored.seq == added.seq
    assert [(m.id, m.seq) for m in await store.messages("t1")] == [("a", 1), ("c", 2), ("d", 3)]
    assert [(m.id, m.seq) for m in await store.messages("t2")] == [("b", 1), ("e", 2)]


async def test_concurrent_adds_get_distinct_increasing_seq(store: ThreadStore) -> None:
    await store.create_thread(thread("t1"))
    added = await asyncio.gather(
        *(store.add_message(message(f"m{i}", at=200.0 + i)) for i in range(20))
    )
    seqs = sorted(m.seq for m in added)
    assert seqs == list(range(1, 21))
    stored = await store.messages("t1")
    assert [m.seq for m in stored] == seqs
    assert {m.id for m in stored} == {f"m{i}" for i in range(20)}
    by_id = {m.id: m.seq for m in added}
    assert all(by_id[m.id] == m.seq for m in stored)


async def test_adding_to_a_missing_thread_is_refused(store: ThreadStore) -> None:
    with pytest.raises(ValueError):
        await store.add_message(message("m1", tid="nowhere"))
    assert await store.get_message("m1") is None


async def test_pages_of_messages_tile_the_thread_oldest_first(store: ThreadStore) -> None:
    await store.create_thread(thread("t1"))
    await store.create_thread(thread("t2"))
    for i in range(7):
        await store.add_message(message(f"m{i}", at=200.0 + i))
        await store.add_message(message(f"other{i}", tid="t2"))
    pages: list[list[int]] = []
    before: int | None = None
    while page := await store.messages("t1", before_seq=before, limit=3):
        pages.append([m.seq for m in page])
        before = page[0].seq
    assert pages == [[5, 6, 7], [2, 3, 4], [1]]
    everything = await store.messages("t1", limit=100)
    assert [m.id for m in everything] == [f"m{i}" for i in range(7)]
    assert await store.messages("t1", limit=0) == []
    assert await store.messages("missing") == []


async def test_threads_list_most_recently_updated_first(store: ThreadStore) -> None:
    await store.create_thread(thread("a", at=1.0, doc_id="d1"))
    await store.create_thread(thread("b", at=3.0))
    await store.create_thread(thread("c", at=2.0, doc_id="d1"))
    await store.create_thread(thread("z", ws="w2", at=5.0, doc_id="d1"))
    assert [t.id for t in await store.threads("w1")] == ["b", "c", "a"]
    assert [t.id for t in await store.threads("w1", doc_id="d1")] == ["c", "a"]
    assert [t.id for t in await store.threads("w1", before=3.0)] == ["c", "a"]
    assert [t.id for t in await store.threads("w1", doc_id="d1", before=2.0)] == ["a"]
    first = await store.threads("w1", limit=2)
    assert [t.id for t in first] == ["b", "c"]
    rest = await store.threads("w1", before=first[-1].updated_at, limit=2)
    assert [t.id for t in rest] == ["a"]
    await store.add_message(message("m1", tid="a", at=10.0))
    assert [t.id for t in await store.threads("w1")] == ["a", "b", "c"]
    assert [t.id for t in await store.threads("w2")] == ["z"]
    assert await store.threads("nowhere") == []


async def test_update_message_changes_only_updatable_fields(store: ThreadStore) -> None:
    await store.create_thread(thread("t1"))
    added = await store.add_message(
        message("m1", role=Role.ASSISTANT, status=AnswerStatus.STREAMING, text="")
    )
    citation = {"path": "notes.md", "file_id": "f1", "start_line": 1, "end_line": 4}
    changed = await store.update_message(
        "m1", {"text": "Hallo 👋", "status": "done", "model": "m-1", "citations": [citation]}
    )
    expected = added.with_(
        text="Hallo 👋", status=AnswerStatus.DONE, model="m-1", citations=[citation]
    )
    assert changed == expected
    assert await store.get_message("m1") == expected
    stopped = await store.update_message("m1", {"status": AnswerStatus.STOPPED, "error": "no"})
    assert stopped is not None and stopped.status is AnswerStatus.STOPPED
    for refused in ({"seq": 5}, {"text": "sneaky", "role": "user"}, {"thread_id": "t2"}):
        with pytest.raises(ValueError):
            await store.update_message("m1", refused)
    assert await store.get_message("m1") == stopped
    assert await store.update_message("missing", {"text": "x"}) is None


async def test_update_thread_changes_only_updatable_fields(store: ThreadStore) -> None:
    await store.create_thread(thread("t1", doc_id="d1"))
    changed = await store.update_thread(
        "t1", {"title": "Plan für 2025", "answer_every": True, "updated_at": 150.0}
    )
    expected = thread("t1", doc_id="d1", title="Plan für 2025", answer_every=True)
    expected = Thread.from_dict({**expected.to_dict(), "updated_at": 150.0})
    assert changed == expected
    assert await store.get_thread("t1") == expected
    assert [t.id for t in await store.threads("w1", before=151.0)] == ["t1"]
    for refused in ({"workspace_id": "w2"}, {"title": "x", "doc_id": None}):
        with pytest.raises(ValueError):
            await store.update_thread("t1", refused)
    assert await store.get_thread("t1") == expected
    assert await store.update_thread("missing", {"title": "x"}) is None


async def test_delete_workspace_removes_only_its_threads_and_messages(
    store: ThreadStore,
) -> None:
    for tid, ws in (("a", "w1"), ("b", "w1"), ("z", "w2")):
        await store.create_thread(thread(tid, ws=ws))
        await store.add_message(message(f"{tid}1", tid=tid, ws=ws))
        await store.add_message(message(f"{tid}2", tid=tid, ws=ws))
    assert await store.delete_workspace("w1") == 2
    assert await store.threads("w1") == []
    assert await store.get_thread("a") is None
    assert await store.get_message("a1") is None
    assert await store.messages("b") == []
    assert [t.id for t in await store.threads("w2")] == ["z"]
    assert [m.id for m in await store.messages("z")] == ["z1", "z2"]
    assert await store.delete_workspace("w1") == 0


async def test_a_message_round_trips_every_field(store: ThreadStore) -> None:
    await store.create_thread(thread("t1"))
    full = Message(
        id="m1",
        thread_id="t1",
        workspace_id="w1",
        role=Role.ASSISTANT,
        author_name="test-model",
        text="Grüße 😀\n«zitat» — 中文\u2028end",
        created_at=1712345678.125,
        author_id=None,
        status=AnswerStatus.FAILED,
        reply_to="q1",
        edited_at=1712345679.5,
        deleted_at=1712345680.25,
        model="test-model",
        error="the model timed out",
        citations=[
            {"path": "docs/ä.md", "file_id": "f1", "start_line": 3, "end_line": 9},
            {"path": "b.md", "file_id": "f2", "start_line": 1, "end_line": 1},
        ],
        selection={"start": 4, "end": 12, "text": "sélection 👀"},
    )
    sparse = message("m2", selection=None, author_id=None)
    added = [await store.add_message(full), await store.add_message(sparse)]
    assert added == [full.with_(seq=1), sparse.with_(seq=2)]
    assert [await store.get_message("m1"), await store.get_message("m2")] == added
    assert await store.messages("t1") == added
    stored = await store.get_message("m1")
    assert stored is not None and stored.role is Role.ASSISTANT
    assert stored.status is AnswerStatus.FAILED


async def test_votes_are_one_per_member_kept_beside_each_other_and_clearable(
    store: ThreadStore,
) -> None:
    await store.create_thread(thread("t1"))
    answer = await store.add_message(message("a1", role=Role.ASSISTANT))
    other = await store.add_message(message("a2", role=Role.ASSISTANT))
    assert await store.judged("w1") == []
    voters = [f"u{i}" for i in range(6)]
    await asyncio.gather(
        *(
            store.mark(answer.id, "votes", u, "up" if i % 3 else "down", at=100.0 + i)
            for i, u in enumerate(voters)
        )
    )
    stored = await store.get_message(answer.id)
    assert stored is not None and stored.feedback == {"up": 4, "down": 2}
    assert stored.votes_at == {u: 100.0 + i for i, u in enumerate(voters)}
    changed = await store.mark(answer.id, "votes", "u0", "up", at=200.0)  # a change of mind
    assert changed is not None and changed.feedback == {"up": 5, "down": 1}
    assert changed.votes_at["u0"] == 200.0
    cleared = await store.mark(answer.id, "votes", "u1", None, at=300.0)
    assert cleared is not None and "u1" not in cleared.votes and "u1" not in cleared.votes_at
    assert cleared.feedback == {"up": 4, "down": 1}
    assert await store.mark("no-such-message", "votes", "u0", "up", at=1.0) is None
    assert [m.id for m in await store.judged("w1")] == ["a1"]
    assert other.judged is False and await store.judged("w2") == []
    assert await store.judged_workspaces() == ["w1"]


async def test_a_questions_preferred_answers_and_its_replies(store: ThreadStore) -> None:
    await store.create_thread(thread("t1"))
    question = await store.add_message(message("q1"))
    for n in (1, 2, 3):
        await store.add_message(message(f"a{n}", role=Role.ASSISTANT, reply_to="q1"))
    await store.add_message(message("q2"))
    await store.add_message(message("b1", role=Role.ASSISTANT, reply_to="q2"))
    assert [m.id for m in await store.replies("t1", question.id)] == ["a1", "a2", "a3"]
    assert await store.replies("t1", "a1") == [] and await store.replies("t2", "q1") == []
    await store.mark("q1", "preferences", "alice", "a2", at=5.0)
    await store.mark("q1", "preferences", "bob", "a3", at=6.0)
    marked = await store.mark("q1", "preferences", "alice", "a3", at=7.0)
    assert marked is not None and marked.preferences == {"alice": "a3", "bob": "a3"}
    assert marked.preferences_at == {"alice": 7.0, "bob": 6.0} and marked.votes == {}
    assert [m.id for m in await store.judged("w1")] == ["q1"]


async def test_an_answers_prompt_is_kept_with_it(store: ThreadStore) -> None:
    await store.create_thread(thread("t1"))
    await store.add_message(message("a1", role=Role.ASSISTANT))
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "ünï?"}]
    await store.update_message("a1", {"prompt": prompt})
    stored = await store.get_message("a1")
    assert stored is not None and stored.prompt == prompt
