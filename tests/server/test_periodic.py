"""The periodic worker behind the edit history and drive sizes: a failing step is logged and
the next period runs again; closing stops it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.periodic import Periodic


async def test_a_failing_step_is_logged_and_the_next_period_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0
    third = asyncio.Event()

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk on fire")
        if calls == 3:
            third.set()

    with caplog.at_level(logging.ERROR, logger="server.periodic"):
        async with Periodic(step, 0.0, "testing the worker"):
            await asyncio.wait_for(third.wait(), 5.0)
    assert "testing the worker failed" in caplog.text and "disk on fire" in caplog.text
    stopped_at = calls
    for _ in range(10):  # open, a zero period would have run a step in each of these turns
        await asyncio.sleep(0)
    assert calls == stopped_at
