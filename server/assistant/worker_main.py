"""``tandem assistant``: a worker process for cluster mode. It consumes the Redis stream queue,
holds the model API key (pods do not need it), and writes suggestions through a ``Rooms`` over
the same Redis + S3 store as the pods, so its writes reach every pod through the documents'
streams. SIGTERM stops taking jobs and gives those under way TANDEM_ASSISTANT_DRAIN_S to
finish; one cut short after that is reclaimed by another worker. ``/healthz`` and ``/metrics``
are served on TANDEM_ASSISTANT_HEALTH_PORT (worker_health.py)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from collections.abc import AsyncIterator

from sync.rooms import Rooms
from sync.types import Origin

from ..backends import open_backends
from ..search.wiring import open_knowledge
from ..settings import Settings
from .wiring import AssistantPart, open_assistant
from .worker_health import HealthServer

log = logging.getLogger(__name__)

WORKER_ROOM_GRACE_S = 30.0


class WorkerConfigError(Exception):
    """The settings cannot run a worker process."""


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    if settings.embedded:
        raise WorkerConfigError(
            "tandem assistant needs cluster mode (TANDEM_REDIS_URL and TANDEM_S3_*); "
            "embedded, tandem serve runs the assistant's workers itself"
        )
    async with (
        open_backends(settings) as backends,
        Rooms(
            backends.store,
            origin=Origin(f"{settings.pod_id}/assistant"),
            # A worker has no peers to keep a document open: without a longer grace it would
            # reload a document's suggestions from Redis for nearly every job (~50 ms).
            limits=dataclasses.replace(
                settings.sync_limits,
                room_grace_s=max(settings.room_grace_s, WORKER_ROOM_GRACE_S),
            ),
            tail=backends.tail,
        ) as rooms,
        open_knowledge(settings, backends) as knowledge,
        open_assistant(
            settings, backends, rooms, run_workers=True, retrieve=knowledge.retrieve
        ) as part,
        _health(settings, part),
    ):
        log.info(
            "assistant worker %s serving with %d loops", settings.pod_id, settings.assistant_workers
        )
        await stop.wait()
        log.info("assistant worker %s stopping", settings.pod_id)


@contextlib.asynccontextmanager
async def _health(settings: Settings, part: AssistantPart) -> AsyncIterator[None]:
    if not settings.assistant_health_port:
        yield
        return

    def alive() -> bool:
        return bool(part.serving) and not any(task.done() for task in part.serving)

    try:
        health = HealthServer(settings.host, settings.assistant_health_port, alive)
    except OSError as exc:
        raise WorkerConfigError(
            f"cannot listen on {settings.host}:{settings.assistant_health_port} "
            f"(TANDEM_ASSISTANT_HEALTH_PORT) for /healthz: {exc}"
        ) from exc
    task = asyncio.get_running_loop().create_task(health.serve(), name="assistant-health")
    log.info("assistant worker health on %s:%d", settings.host, health.port)
    try:
        yield
    finally:
        health.stop()
        await task


def main(settings: Settings) -> int:
    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    try:
        asyncio.run(run())
    except WorkerConfigError as exc:
        log.error("%s", exc)
        return 2
    return 0
