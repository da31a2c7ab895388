"""Builds the assistant from the settings: records (MongoDB or SQLite), the queue (Redis
stream or in-process), limits, the per-document turn, the service the routes call, and the
worker pool where this process runs workers (``tandem serve`` embedded, ``tandem assistant``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from assistant.intake import IntakeLimits
from assistant.limits import Limiter, MemoryLimiter, RedisLimiter
from assistant.model_client import ModelClient, ModelConfig
from assistant.queue import JobQueue, MemoryQueue, RedisQueue
from assistant.records import Records
from assistant.serial import LeaseSerializer, LocalSerializer, Serializer
from assistant.service import Assistant, AssistantConfig
from assistant.worker import Worker, WorkerConfig
from sync.rooms import Rooms
from sync.types import DocId

from ..access.models import new_id
from ..backends import Backends
from ..learning import model_lookup
from ..settings import Settings

log = logging.getLogger(__name__)

INSTRUCTIONS_CACHE_S = 5.0
MAX_INSTRUCTIONS_CHARS = 4000


@dataclass
class AssistantPart:
    service: Assistant
    records: Records
    queue: JobQueue
    worker: Worker | None = None

    async def delete_workspace(self, workspace_id: str) -> None:
        await self.records.delete_workspace(workspace_id)


@contextlib.asynccontextmanager
async def open_records(settings: Settings, backends: Backends) -> AsyncIterator[Records]:
    if backends.mongo is not None:
        from assistant.mongo_records import MongoRecords

        records = MongoRecords(backends.mongo)
        await records.ensure_indexes()
        yield records
        return
    from assistant.sqlite_records import SqliteRecords

    async with SqliteRecords(settings.data_dir / "assistant.db") as sqlite_records:
        yield sqlite_records


def model_config(settings: Settings) -> ModelConfig:
    return ModelConfig(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        model=settings.openai_model,
        timeout_s=settings.openai_timeout_s,
        total_timeout_s=settings.openai_total_timeout_s,
        max_retries=settings.openai_max_retries,
        concurrency=settings.openai_concurrency,
    )


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        workers=settings.assistant_workers,
        flush_interval_s=settings.assistant_flush_interval_s,
        # Well inside the reclaim time: only a dead (or frozen) worker loses its job.
        heartbeat_s=max(0.2, settings.assistant_reclaim_idle_s / 4),
        intake=IntakeLimits(
            context_tokens=settings.assistant_context_tokens,
            redact_secrets=settings.assistant_redact_secrets,
        ),
    )


@contextlib.asynccontextmanager
async def open_assistant(
    settings: Settings, backends: Backends, rooms: Rooms, *, run_workers: bool
) -> AsyncIterator[AssistantPart]:
    redis = backends.redis
    queue: JobQueue
    limiter: Limiter
    serializer: Serializer
    ttl = settings.openai_total_timeout_s + 30.0
    if redis is not None:
        queue = RedisQueue(
            redis,
            max_waiting=settings.assistant_queue_max,
            reclaim_idle_s=settings.assistant_reclaim_idle_s,
        )
        limiter = RedisLimiter(
            redis, settings.assistant_rate_per_min, settings.assistant_streams_per_workspace, ttl
        )

        async def load(doc_id: str) -> list[bytes]:
            return list((await backends.store.load(DocId(doc_id))).updates)

        serializer = LeaseSerializer(redis, rooms.edit, load)  # type: ignore[arg-type]
    else:
        queue = MemoryQueue(settings.assistant_queue_max)
        limiter = MemoryLimiter(
            settings.assistant_rate_per_min, settings.assistant_streams_per_workspace, ttl
        )
        serializer = LocalSerializer()
    async with open_records(settings, backends) as records:
        service = Assistant(
            rooms,
            records,
            queue,
            limiter,
            serializer,
            AssistantConfig(),
            new_id=new_id,
        )
        part = AssistantPart(service, records, queue)
        if not run_workers:
            yield part
            return
        model = ModelClient(model_config(settings))
        everywhere = settings.assistant_instructions
        cached: dict[str, tuple[float, str]] = {}

        async def workspace_instructions(workspace_id: str) -> str:
            """The deployment's instructions, then the workspace's own; cached briefly, so an
            owner's change reaches every worker within a few seconds."""
            now = time.monotonic()
            hit = cached.get(workspace_id)
            if hit is None or now - hit[0] > INSTRUCTIONS_CACHE_S:
                hit = (now, await records.instructions(workspace_id))
                cached[workspace_id] = hit
            return "\n".join(part for part in (everywhere, hit[1]) if part)

        part.worker = Worker(
            rooms.edit,  # type: ignore[arg-type]
            model,
            records,
            limiter,
            worker_config(settings),
            instructions=workspace_instructions,
            model_for=model_lookup(settings, backends),
            serializer=serializer if redis is not None else None,
        )
        task = asyncio.get_running_loop().create_task(
            part.worker.serve(queue, f"{settings.pod_id}-assistant")
        )
        try:
            yield part
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await model.aclose()


def part_of(ctx: Any) -> AssistantPart:
    part: AssistantPart | None = getattr(ctx, "assistant", None)
    if part is None:
        raise RuntimeError("the assistant is not wired")
    return part
