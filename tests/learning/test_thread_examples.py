"""What members say of answers in threads becomes labelled examples: read from a real thread
store (SQLite) and built into the dataset as a run builds it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from assistant import anchors, board
from assistant.threads.sqlite_store import SqliteThreads
from assistant.threads.store import AnswerStatus, Message, Role, Thread, ThreadStore
from learning.dataset import Dataset, DatasetLimits, build, example_of
from learning.outcomes import outcome_of
from learning.thread_examples import thread_outcomes

PROMPT = [
    {"role": "system", "content": "You are the workspace's assistant."},
    {"role": "user", "content": "alice: @assistant name the release"},
]
PLANTED = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ThreadStore]:
    async with SqliteThreads(tmp_path / "threads.db") as threads:
        await threads.create_thread(Thread("t1", "w1", "Release", "alice", "alice", 1.0, 1.0))
        yield threads


async def ask(store: ThreadStore, qid: str, *answers: str, prompt: Any = PROMPT) -> None:
    await store.add_message(Message(qid, "t1", "w1", Role.USER, "alice", qid, 2.0, "alice"))
    for n, text in enumerate(answers):
        await store.add_message(
            Message(
                f"{qid}-a{n}",
                "t1",
                "w1",
                Role.ASSISTANT,
                "test-model",
                text,
                3.0 + n,
                reply_to=qid,
                prompt=prompt,
                model="test-model",
            )
        )


def lines(dataset: Dataset, name: str) -> list[dict[str, Any]]:
    files = dataset.files()
    return [json.loads(line) for line in files[f"{name}-train"].splitlines()] + [
        json.loads(line) for line in files[f"{name}-validation"].splitlines()
    ]


def last(line: dict[str, Any]) -> str:
    return str(line["messages"][-1]["content"])


async def test_votes_and_a_preference_become_sft_lines_and_pairs(store: ThreadStore) -> None:
    await ask(store, "q1", "Call it Otter.", "Call it Heron.")
    await store.mark("q1", "preferences", "alice", "q1-a1", at=10.0)  # Heron over Otter
    await store.mark("q1-a0", "votes", "bob", "down", at=11.0)
    await store.mark("q1-a1", "votes", "carol", "up", at=12.0)
    await ask(store, "q2", "Ship on Friday.")
    await store.mark("q2-a0", "votes", "bob", "up", at=13.0)
    await ask(store, "q3", "Use tabs.")
    await store.mark("q3-a0", "votes", "carol", "up", at=14.0)
    await store.mark("q3-a0", "votes", "carol", None, at=15.0)  # taken back: no example
    await ask(store, "q4", "Maybe.")
    await store.mark("q4-a0", "votes", "dave", "down", at=16.0)  # nothing better: no pair

    outcomes = await thread_outcomes(store, "w1")
    assert sorted((o["kind"], o["user_id"], o["final_text"], o["proposal"]) for o in outcomes) == [
        ("approved", "bob", "Ship on Friday.", "Ship on Friday."),
        ("approved", "carol", "Call it Heron.", "Call it Heron."),
        ("disliked", "bob", "Call it Heron.", "Call it Otter."),
        ("preferred", "alice", "Call it Heron.", "Call it Otter."),
    ]
    assert {o["decided_at"] for o in outcomes} == {10.0, 11.0, 12.0, 13.0}
    assert all(o["prompt"] == PROMPT and o["doc_id"] == "thread:t1" for o in outcomes)

    dataset = build(outcomes, DatasetLimits())
    assert sorted(last(line) for line in lines(dataset, "sft")) == [
        "Call it Heron.",
        "Ship on Friday.",
    ]
    [pair] = lines(dataset, "preference")  # alice's and bob's pair is one
    assert pair["input"]["messages"] == PROMPT
    assert pair["preferred_output"][0]["content"] == "Call it Heron."
    assert pair["non_preferred_output"][0]["content"] == "Call it Otter."


async def test_a_member_is_capped_and_secrets_are_redacted(store: ThreadStore) -> None:
    for n in range(5):
        await ask(store, f"q{n}", f"Answer {n} with token {PLANTED}.")
        await store.mark(f"q{n}-a0", "votes", "bob", "up", at=20.0 + n)
    await ask(store, "q9", "Carol's pick.")
    await store.mark("q9-a0", "votes", "carol", "up", at=1.0)
    dataset = build(await thread_outcomes(store, "w1"), DatasetLimits(max_per_user=2))
    kept = sorted(last(line) for line in lines(dataset, "sft"))
    # bob's two newest votes, and carol's one
    assert kept == [
        "Answer 3 with token [REDACTED:github_token].",
        "Answer 4 with token [REDACTED:github_token].",
        "Carol's pick.",
    ]
    assert dataset.filters["user_cap"] == 3
    assert dataset.redactions["github_token"] == 10  # scrubbed in each side of all five


async def test_answers_without_a_prompt_or_not_done_are_left_out(store: ThreadStore) -> None:
    await ask(store, "q1", "Old answer.", prompt=None)  # from before prompts were kept
    await store.mark("q1-a0", "votes", "bob", "up", at=5.0)
    await ask(store, "q2", "Half an ans")
    await store.update_message("q2-a0", {"status": AnswerStatus.STOPPED.value})
    await store.mark("q2-a0", "votes", "bob", "up", at=6.0)
    # A thumbs down pairs with a liked answer only while that answer can be a label.
    await ask(store, "q3", "Liked, then deleted.", "Disliked.")
    await store.mark("q3-a0", "votes", "carol", "up", at=7.0)
    await store.update_message("q3-a0", {"text": "", "deleted_at": 8.0})
    await store.mark("q3-a1", "votes", "bob", "down", at=9.0)
    assert await thread_outcomes(store, "w1") == []
    assert await thread_outcomes(store, "w2") == []


def applied(status: str, edit: str | None) -> dict[str, Any]:
    """The outcome of a suggestion applied from an answer's code block, as labelling makes
    it: ``edit`` is what a person then wrote over the accepted text."""
    doc = Doc()
    text = doc.get("content", type=Text)
    text += "x = 1\ny = 2\n"
    block = "x = 10\n"
    entry = {
        "anchor_start": anchors.encode(text, 0),
        "anchor_end": anchors.encode(text, 6),
        "original": "x = 1\n",
        "original_sha256": board.sha256("x = 1\n"),
        "proposal": block,
    }
    if status == "accepted":
        del text[0:6]
        text.insert(0, edit if edit is not None else block)
    elif edit is not None:
        del text[0:6]
        text.insert(0, edit)
    answer = f"Set it higher:\n\n```python path=a.py lines=1-1\n{block}```\n"
    record = {
        "id": "s1",
        "workspace_id": "w1",
        "doc_id": "d1",
        "user_id": "alice",
        "status": status,
        "decided_at": 1.0,
        "original": "x = 1\n",
        "prompt": PROMPT,
        "answer": answer,
    }
    outcome = outcome_of(record, entry, text)
    assert outcome is not None
    return outcome


@pytest.mark.parametrize(
    ("status", "edit", "preferred"),
    [
        ("accepted", None, "```python path=a.py lines=1-1\nx = 10\n```"),
        ("accepted", "x = 12\n", "```python path=a.py lines=1-1\nx = 12\n```"),
        ("rejected", "x = 3\n", "```python path=a.py lines=1-1\nx = 3\n```"),
        ("accepted", "x = 1\n", None),  # put back: no better answer known
        ("rejected", None, None),  # untouched: nothing to learn
    ],
)
def test_an_applied_block_labels_the_whole_answer(
    status: str, edit: str | None, preferred: str | None
) -> None:
    outcome = applied(status, edit)
    example = example_of(outcome, Counter())
    if preferred is None:
        assert example is None
        return
    assert example is not None and example.prompt == PROMPT
    assert example.proposal.startswith("Set it higher:") and "x = 10\n" in example.proposal
    assert example.preferred == f"Set it higher:\n\n{preferred}\n"
