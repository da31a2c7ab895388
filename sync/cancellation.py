"""redis-py can turn the cancellation of a pending command into a connection error. A retry
loop that catches it would then keep a cancelled task alive forever; these loops ask first."""

from __future__ import annotations

import asyncio


def reraise_if_cancelled(exc: BaseException) -> None:
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc
