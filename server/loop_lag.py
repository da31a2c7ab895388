"""How late the event loop runs what is due: a sampler that asks to wake every
TANDEM_LOOP_LAG_INTERVAL_S and records by how much it woke late, as the histogram
``tandem_event_loop_lag_seconds``. Anything that holds the loop (a long callback, a native
call that keeps the GIL, a burst of callbacks that fall due together) shows as lag here, in
every pod, whichever client it delays."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Self

from sync.metrics import LOOP_LAG_SECONDS


class LoopLag:
    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        if self._interval_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self._interval_s)  # the measurement itself: a timer's lateness
            LOOP_LAG_SECONDS.observe(max(0.0, time.perf_counter() - asked - self._interval_s))
