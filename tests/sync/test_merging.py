"""Merging in rounds gives the same document as one ``merge_updates`` call, and lets other
tasks run while it works."""

from __future__ import annotations

import asyncio
import random

import pytest
from pycrdt import Doc, Map, Text, merge_updates

from sync.merging import ROUND, merge


def concurrent_updates(count: int, seed: int) -> list[bytes]:
    """Updates from three replicas editing text and a map concurrently, deletes included,
    in an order that interleaves them."""
    rng = random.Random(seed)
    replicas = [Doc() for _ in range(3)]
    updates: list[bytes] = []
    for doc in replicas:
        doc.observe(lambda event: updates.append(event.update))
    for i in range(count):
        doc = rng.choice(replicas)
        text = doc.get("text", type=Text)
        if len(text) > 5 and rng.random() < 0.3:
            start = rng.randrange(len(text) - 3)
            del text[start : start + 3]
        else:
            text.insert(rng.randint(0, len(text)), rng.choice(["a", "bc", "é"]))
        doc.get("map", type=Map)[f"k{i % 7}"] = i
        if rng.random() < 0.2:  # now and then a replica catches up with another
            other = rng.choice(replicas)
            doc.apply_update(other.get_update(doc.get_state()))
    return updates


def contents(update: bytes) -> tuple[str, dict[str, object], bytes]:
    doc = Doc()
    doc.apply_update(update)
    return str(doc.get("text", type=Text)), dict(doc.get("map", type=Map)), doc.get_state()


@pytest.mark.parametrize("count", [1, 2, ROUND, ROUND + 1, 5 * ROUND * ROUND // 4])
async def test_merging_in_rounds_equals_one_merge(count: int) -> None:
    updates = concurrent_updates(count, seed=count)[:count]
    assert contents(await merge(updates)) == contents(merge_updates(*updates))


async def test_other_tasks_run_between_rounds() -> None:
    updates = concurrent_updates(4 * ROUND * ROUND, seed=7)
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    before = turns
    await merge(updates)
    during = turns - before
    counter.cancel()
    assert during >= len(updates) // ROUND


async def test_nothing_to_merge_is_an_error() -> None:
    with pytest.raises(ValueError):
        await merge([])
