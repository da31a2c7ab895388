"""How late the event loop runs what is due: a step run every TANDEM_LOOP_LAG_INTERVAL_S
(``Periodic``) records by how much more than the interval passed since the previous one
ended, as the histogram ``tandem_event_loop_lag_seconds``. Anything that holds the loop (a
long callback, a native call that keeps the GIL, a burst of callbacks that fall due
together) shows as lag here, in every pod, whichever client it delays."""

from __future__ import annotations

import time

from sync.metrics import LOOP_LAG_SECONDS

from .periodic import Periodic


class LoopLag:
    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._last: float | None = None

    async def step(self) -> None:
        # Runs as soon as the period's sleep returns, before any await of its own.
        now = time.perf_counter()
        if self._last is not None:
            LOOP_LAG_SECONDS.observe(max(0.0, now - self._last - self._interval_s))
        self._last = now


def loop_lag(interval_s: float) -> Periodic:
    """The sampler for the app's lifespan (an interval of 0 turns it off)."""
    return Periodic(LoopLag(interval_s).step, interval_s, "sampling the loop's lag")
