"""The loop-lag sampler records by how much the event loop woke its timer late: a loop held
for 200 ms shows as one sample of at least that, and a free loop's samples stay small."""

from __future__ import annotations

import asyncio
import time

from server.loop_lag import loop_lag
from sync.metrics import LOOP_LAG_SECONDS


def buckets() -> dict[float, float]:
    """le -> cumulative count of the lag histogram."""
    [family] = LOOP_LAG_SECONDS.collect()
    return {float(s.labels["le"]): s.value for s in family.samples if s.name.endswith("_bucket")}


async def samples_after(before: dict[float, float], more: int) -> dict[float, float]:
    """Waits (bounded) until ``more`` samples past ``before`` were taken."""
    deadline = time.monotonic() + 5
    while buckets()[float("inf")] < before[float("inf")] + more:
        assert time.monotonic() < deadline, "the sampler took no samples"
        await asyncio.sleep(0.01)  # polling a counter with a deadline
    return buckets()


async def test_a_held_loop_shows_as_lag_and_a_free_one_does_not() -> None:
    async with loop_lag(0.01):
        start = await samples_after(buckets(), 1)
        free = await samples_after(start, 20)
        calm = {le: free[le] - start[le] for le in free}
        assert calm[0.01] >= 10  # most of a free loop's samples are under 10 ms
        time.sleep(0.2)  # noqa: ASYNC251 - holds the loop on purpose, as a long callback would
        held = await samples_after(free, 1)
    late = {le: held[le] - free[le] for le in held}
    assert late[float("inf")] - late[0.1] >= 1  # the sample over the hold: over 100 ms
