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
        async with Periodic(step, 0.001, "testing the worker") as worker:
            await asyncio.wait_for(third.wait(), 5.0)
    assert "testing the worker failed" in caplog.text and "disk on fire" in caplog.text
    assert worker._task is not None and worker._task.done()  # closing ended the loop


async def test_a_period_of_zero_runs_nothing() -> None:
    """A setting turned off (TANDEM_LOOP_LAG_INTERVAL_S=0, say), not a busy loop."""
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1

    async with Periodic(step, 0.0, "turned off"):
        for _ in range(10):  # turns of the loop in which a running worker would have stepped
            await asyncio.sleep(0)
    assert calls == 0
