"""A pool of loops taking jobs from one queue, shared by the suggestion worker and the thread
answerer: each loop hands one delivery at a time to ``process``, heartbeating it meanwhile so
nobody reclaims a live worker's job, and acknowledges it once processed.

A job that raised is acknowledged and given up (``give_up`` ends it as failed for its
watchers) unless the queue hands it out again (Redis), where it stays unacknowledged for
another worker to start over after the idle time. ``drain`` takes no more jobs: loops waiting
for one stop at once, a loop on a job finishes it first, since finishing beats leaving it for
a reclaim."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .queue import Delivery, JobQueue, heartbeating

log = logging.getLogger(__name__)

Process = Callable[[Any], Awaitable[object]]
GiveUp = Callable[[Any, str], Awaitable[None]]

INTERNAL_FAILURE = "the assistant failed internally; ask again"


class Consumers:
    def __init__(
        self,
        process: Process,
        give_up: GiveUp,
        *,
        loops: int,
        heartbeat_s: float,
        kind: str,
        after_each: Callable[[JobQueue], Awaitable[None]] | None = None,
    ) -> None:
        """``kind`` names the jobs in logs; ``after_each`` runs after every job (metrics)."""
        self._process = process
        self._give_up = give_up
        self._loops = loops
        self._heartbeat_s = heartbeat_s
        self._kind = kind
        self._after_each = after_each
        self._stopping = False
        self._waiting: set[asyncio.Task[Any]] = set()
        """Loops waiting for their next job, not on one: a drain cancels these."""

    async def serve(self, queue: JobQueue, name: str) -> None:
        """Runs the loops until cancelled, or until ``drain`` has let each finish its job."""
        async with asyncio.TaskGroup() as group:
            for i in range(self._loops):
                group.create_task(self._loop(queue, f"{name}-{i}"))

    def drain(self) -> None:
        self._stopping = True
        for waiting in self._waiting:
            waiting.cancel()

    async def _loop(self, queue: JobQueue, consumer: str) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._stopping:
            try:
                async with contextlib.aclosing(queue.deliveries(consumer)) as deliveries:
                    while not self._stopping:
                        self._waiting.add(me)
                        try:
                            delivery = await anext(deliveries)
                        except asyncio.CancelledError:
                            if self._stopping and me.cancelling() == 1:
                                me.uncancel()  # the drain's: it cancels only waiting loops
                                return
                            raise
                        finally:
                            self._waiting.discard(me)
                        # Taken, even if a drain began meanwhile: it is finished first.
                        await self._handle(delivery)
                        if self._after_each is not None:
                            with contextlib.suppress(Exception):
                                await self._after_each(queue)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s queue failed; retrying", self._kind)
                await asyncio.sleep(1.0)  # back off from a broken queue, then read again

    async def _handle(self, delivery: Delivery) -> None:
        try:
            async with heartbeating(delivery, self._heartbeat_s):
                await self._process(delivery.job)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s job failed: %r", self._kind, delivery.job)
            if delivery.redelivered:
                return  # storage failed under us: another worker starts it over
            try:
                await self._give_up(delivery.job, INTERNAL_FAILURE)
            except Exception:
                log.warning("could not give %s job up", self._kind, exc_info=True)
        with contextlib.suppress(Exception):
            await delivery.ack()
