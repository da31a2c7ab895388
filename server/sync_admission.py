"""How many /sync connections are authorized at once (TANDEM_MAX_PENDING_CONNECTIONS): each
holds a token check and directory lookups. The ones past it wait their turn, in order, up to
TANDEM_SYNC_ADMISSION_WAIT_S, and only then are refused with 1013. A class of 1,000 joining
one document at once is let in rather than turned away to retry: with an immediate refusal
at the cap 73-82% of such a burst were refused and reconnected (bench/burst_bench.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Admission:
    def __init__(self, slots: int, wait_s: float) -> None:
        self._slots = asyncio.Semaphore(max(0, slots))  # 0: nobody is let in (a test)
        self._wait_s = wait_s

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[bool]:
        """True while this connection holds a slot; False when none came in time."""
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait_s)
        except TimeoutError:
            yield False
            return
        try:
            yield True
        finally:
            self._slots.release()
