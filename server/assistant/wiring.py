"""Builds the assistant from the settings: records (MongoDB or SQLite), the queue (Redis
stream or in-process), limits, the per-document turn, the service the routes call, and the
worker pool where this process runs workers (``tandem serve`` embedded, ``tandem assistant``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from assistant.intake import IntakeLimits
from assistant.limits import Limiter, MemoryLimiter, RedisLimiter
from assistant.model_client import ModelClient, ModelConfig
from assistant.queue import JobQueue, MemoryQueue, RedisQueue
from assistant.records import Records
from assistant.serial import LeaseSerializer, LocalSerializer, Serializer
from assistant.service import Assistant, AssistantConfig
from assistant.threads.answerer import Answerer, AnswererConfig, Retrieve
from assistant.threads.conversation import ConversationLimits
from assistant.threads.jobs import ANSWERS_STREAM, AnswerJob
from assistant.threads.service import Threads, ThreadsConfig
from assistant.threads.store import ThreadStore
from assistant.worker import Worker, WorkerConfig
from sync.rooms import Rooms
from sync.types import DocId

from ..access.directory import Directory
from ..access.models import WorkspaceId, new_id
from ..backends import Backends
from ..learning import model_lookup
from ..settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

INSTRUCTIONS_CACHE_S = 5.0
MAX_INSTRUCTIONS_CHARS = 4000


@dataclass
class AssistantPart:
    service: Assistant
    records: Records
    queue: JobQueue
    threads: Threads
    thread_store: ThreadStore
    worker: Worker | None = None
    answerer: Answerer | None = None
    serving: list[asyncio.Task[None]] = field(default_factory=list)
    """The worker and answer loops, while they run (``run_workers``)."""
    registered: set[str] = field(default_factory=set)
    """Suggestions documents this process knows are in the directory."""

    async def delete_workspace(self, workspace_id: str) -> None:
        await self.records.delete_workspace(workspace_id)
        await self.thread_store.delete_workspace(workspace_id)


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


@contextlib.asynccontextmanager
async def open_thread_store(settings: Settings, backends: Backends) -> AsyncIterator[ThreadStore]:
    if backends.mongo is not None:
        from assistant.threads.mongo_store import MongoThreads

        threads = MongoThreads(backends.mongo)
        await threads.ensure_indexes()
        yield threads
        return
    from assistant.threads.sqlite_store import SqliteThreads

    async with SqliteThreads(settings.data_dir / "threads.db") as sqlite_threads:
        yield sqlite_threads


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
    settings: Settings,
    backends: Backends,
    rooms: Rooms,
    *,
    run_workers: bool,
    directory: Directory | None = None,
    retrieve: Retrieve | None = None,
) -> AsyncIterator[AssistantPart]:
    """``directory``: where a pod registers threads' live documents (workers need none);
    ``retrieve``: the workspace search answers draw passages from (server/search)."""
    redis = backends.redis
    queue: JobQueue
    answers: JobQueue
    limiter: Limiter
    serializer: Serializer
    ttl = settings.openai_total_timeout_s + 30.0
    if redis is not None:
        queue = RedisQueue(
            redis,
            max_waiting=settings.assistant_queue_max,
            reclaim_idle_s=settings.assistant_reclaim_idle_s,
        )
        answers = RedisQueue(
            redis,
            max_waiting=settings.assistant_queue_max,
            reclaim_idle_s=settings.assistant_reclaim_idle_s,
            stream=ANSWERS_STREAM,
            decode=AnswerJob.from_json,
        )
        limiter = RedisLimiter(
            redis, settings.assistant_rate_per_min, settings.assistant_streams_per_workspace, ttl
        )

        async def load(doc_id: str) -> list[bytes]:
            return list((await backends.store.load(DocId(doc_id))).updates)

        serializer = LeaseSerializer(redis, rooms.edit, load)  # type: ignore[arg-type]
    else:
        queue = MemoryQueue(settings.assistant_queue_max)
        answers = MemoryQueue(settings.assistant_queue_max)
        limiter = MemoryLimiter(
            settings.assistant_rate_per_min, settings.assistant_streams_per_workspace, ttl
        )
        serializer = LocalSerializer()

    async def register_live(doc_id: str, workspace_id: str) -> None:
        if directory is None:
            raise RuntimeError("threads are created in the pods, which have the directory")
        if await directory.doc(doc_id) is None:
            await directory.register_doc(doc_id, WorkspaceId(workspace_id), server_only=True)

    async with (
        open_records(settings, backends) as records,
        open_thread_store(settings, backends) as thread_store,
    ):
        threads = Threads(
            thread_store,
            rooms.edit,  # type: ignore[arg-type]
            answers,
            limiter,
            ThreadsConfig(
                # Past every attempt's model time and a reclaim between them.
                answer_stale_s=2
                * (settings.openai_total_timeout_s + settings.assistant_reclaim_idle_s)
            ),
            new_id=new_id,
            register_live=register_live,
        )
        service = Assistant(
            rooms,
            records,
            queue,
            limiter,
            serializer,
            AssistantConfig(),
            new_id=new_id,
        )
        part = AssistantPart(service, records, queue, threads, thread_store)
        if not run_workers:
            yield part
            return
        model = ModelClient(model_config(settings))
        everywhere = settings.assistant_instructions
        own_instructions = refreshing(records.instructions, INSTRUCTIONS_CACHE_S)

        async def workspace_instructions(workspace_id: str) -> str:
            """The deployment's instructions, then the workspace's own."""
            return "\n".join(p for p in (everywhere, await own_instructions(workspace_id)) if p)

        model_for = model_lookup(settings, backends)
        part.worker = Worker(
            rooms.edit,  # type: ignore[arg-type]
            model,
            records,
            limiter,
            worker_config(settings),
            instructions=workspace_instructions,
            model_for=model_for,
            serializer=serializer if redis is not None else None,
        )
        part.answerer = Answerer(
            thread_store,
            rooms.edit,  # type: ignore[arg-type]
            model,
            limiter,
            answerer_config(settings),
            instructions=workspace_instructions,
            model_for=model_for,
            retrieve=retrieve,
        )
        loop = asyncio.get_running_loop()
        part.serving = [
            loop.create_task(part.worker.serve(queue, f"{settings.pod_id}-assistant")),
            loop.create_task(part.answerer.serve(answers, f"{settings.pod_id}-answers")),
        ]
        try:
            yield part
        finally:
            # Jobs under way get to finish (a stream cut short would be redone from the start
            # by whoever reclaims it); past the drain time they are cut and reclaimed.
            part.worker.drain()
            part.answerer.drain()
            await asyncio.wait(part.serving, timeout=settings.assistant_drain_s)
            for task in part.serving:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await model.aclose()


def answerer_config(settings: Settings) -> AnswererConfig:
    return AnswererConfig(
        workers=max(1, settings.assistant_workers // 2),
        flush_interval_s=settings.assistant_flush_interval_s,
        heartbeat_s=max(0.2, settings.assistant_reclaim_idle_s / 4),
        conversation=ConversationLimits(redact_secrets=settings.assistant_redact_secrets),
    )


def refreshing(
    lookup: Callable[[str], Awaitable[T]], ttl_s: float
) -> Callable[[str], Awaitable[T]]:
    """Per-key cache that answers from memory and refreshes in the background once an answer
    is older than ``ttl_s``: a workspace's instructions or promoted model never costs a
    database round trip on the way to the first token (only the first request waits)."""
    cache: dict[str, tuple[float, T]] = {}
    refreshing_now: set[str] = set()
    tasks: set[asyncio.Task[None]] = set()

    async def refresh(key: str) -> None:
        try:
            cache[key] = (time.monotonic(), await lookup(key))
        except Exception:
            log.warning("refreshing %s failed", key, exc_info=True)
        finally:
            refreshing_now.discard(key)

    async def cached(key: str) -> T:
        hit = cache.get(key)
        if hit is None:
            value = await lookup(key)
            cache[key] = (time.monotonic(), value)
            return value
        if time.monotonic() - hit[0] > ttl_s and key not in refreshing_now:
            refreshing_now.add(key)
            task = asyncio.get_running_loop().create_task(refresh(key))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return hit[1]

    return cached


def part_of(ctx: Any) -> AssistantPart:
    part: AssistantPart | None = getattr(ctx, "assistant", None)
    if part is None:
        raise RuntimeError("the assistant is not wired")
    return part
