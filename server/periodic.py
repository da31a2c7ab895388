"""A step run every period in the background, for the workers that batch what the rooms'
update listeners noted (edit history, drive sizes) and the pod's own housekeeping (loop lag,
memory trim): a failing step is logged and the next period tries again, and closing cancels
the loop. A period of 0 or less runs nothing (a setting turned off, not a busy loop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Self

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, step: Callable[[], Awaitable[None]], interval_s: float, what: str) -> None:
        self._step = step
        self._interval_s = interval_s
        self._what = what
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        if self._interval_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)  # a batching period, not a wait for state
            try:
                await self._step()
            except Exception:
                log.exception("%s failed; retrying next period", self._what)
