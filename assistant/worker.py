"""The worker: takes jobs off the queue, runs the conversation manager and the model, and
streams the proposal into the suggestions document, with the secrets the model saw as
placeholders put back (placeholders.py). In the embedded default a pool of these
loops runs inside ``tandem serve``; in cluster mode ``tandem assistant`` runs them (the only
processes that hold the model API key). A failing job ends its suggestion as ``failed`` with
a reason; the loop goes on to the next job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc

from . import board, metrics
from .consumers import Consumers
from .intake import IntakeLimits, prepare
from .limits import Limiter
from .model_client import ModelClient, ModelError
from .queue import JobQueue
from .records import Records
from .serial import Serializer
from .types import Job, Status
from .writer import Edit, ProposalWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    workers: int = 4
    flush_interval_s: float = 0.04
    stale_check_s: float = 0.25
    heartbeat_s: float = 10.0
    intake: IntakeLimits = field(default_factory=IntakeLimits)


Instructions = Callable[[str], Awaitable[str]]


async def _no_instructions(workspace_id: str) -> str:
    return ""


async def _gauge_depth(queue: JobQueue) -> None:
    metrics.QUEUE_DEPTH.set(await queue.depth())


class Worker:
    def __init__(
        self,
        edit: Edit,
        model: ModelClient,
        records: Records,
        limiter: Limiter,
        config: WorkerConfig,
        instructions: Instructions = _no_instructions,
        model_for: Callable[[str], Awaitable[str | None]] | None = None,
        serializer: Serializer | None = None,
    ) -> None:
        self._serializer = serializer
        self._edit = edit
        self._model = model
        self._records = records
        self._limiter = limiter
        self._config = config
        self._instructions = instructions
        self._model_for = model_for
        self.processed = 0
        self._consumers = Consumers(
            self.process,
            self._give_up,
            loops=config.workers,
            heartbeat_s=config.heartbeat_s,
            kind="assistant",
            after_each=_gauge_depth,
        )

    async def serve(self, queue: JobQueue, name: str) -> None:
        """Runs ``config.workers`` loops until cancelled, or until ``drain`` has let each finish
        the job it was on."""
        await self._consumers.serve(queue, name)

    def drain(self) -> None:
        """Take no more jobs; a loop on a job ends after it. ``serve`` returns once all have."""
        self._consumers.drain()

    async def _give_up(self, job: Job, reason: str) -> None:
        """No queue will hand this job out again: end the suggestion as failed rather than
        leave it streaming forever."""

        def failed(doc: Doc) -> None:
            if board.status(doc, job.suggestion_id) is Status.STREAMING:
                board.transition(
                    doc, job.suggestion_id, Status.FAILED, error=reason, finished_at=time.time()
                )

        try:
            await self._edit(board.board_id(job.doc_id), failed)
        except Exception:
            log.warning("could not mark %s failed", job.suggestion_id, exc_info=True)

    async def process(self, job: Job) -> Status:
        try:
            return await self._process(job)
        finally:
            self.processed += 1
            with contextlib.suppress(Exception):
                await self._limiter.release(job.workspace_id, job.suggestion_id)

    async def _process(self, job: Job) -> Status:
        sid = job.suggestion_id
        model = (await self._model_for(job.workspace_id) if self._model_for else None) or (
            self._model.config.model
        )
        started = time.time()
        owner = f"{job.attempt}-{uuid.uuid4().hex[:12]}"
        suggestion = await self._edit(
            board.board_id(job.doc_id),
            lambda doc: board.begin(doc, sid, owner, model=model, started_at=started),
        )
        if suggestion is None:
            return Status.CANCELLED
        intake = prepare(job, self._config.intake, await self._instructions(job.workspace_id))
        metrics.QUEUE_SECONDS.observe(max(0.0, started - job.requested_at))
        for kind, count in intake.redactions.items():
            metrics.REDACTIONS.labels(kind).inc(count)
        # Recorded while the model works: the first token should not wait for a disk write.
        started_record = asyncio.get_running_loop().create_task(
            self._records.update(
                sid,
                {
                    "model": model,
                    "prompt": intake.messages,
                    "redactions": intake.redactions,
                    "analysis": {
                        "kind": intake.analysis.kind,
                        "language": intake.analysis.language,
                        "intent": intake.analysis.intent,
                    },
                    "started_at": started,
                    "queue_ms": round((started - job.requested_at) * 1000, 2),
                    "attempt": job.attempt,
                },
            )
        )
        writer = ProposalWriter(
            self._edit,
            job.doc_id,
            suggestion,
            flush_interval_s=self._config.flush_interval_s,
            stale_check_s=self._config.stale_check_s,
            serializer=self._serializer,
            owner=owner,
        )
        restorer = intake.placeholders.stream()

        async def add(piece: str) -> bool:
            shown = restorer.feed(piece)
            return await writer.add(shown) if shown else writer.status is Status.STREAMING

        result: dict[str, Any] = {}
        async with writer:
            try:
                completion = await self._model.stream(intake.messages, add, model=model)
                if rest := restorer.close():
                    await writer.add(rest)
            except ModelError as exc:
                metrics.MODEL_ERRORS.labels(exc.kind).inc()
                status = await writer.fail(exc.reason)
                result = {"error": exc.reason}
            else:
                unrestorable = restorer.unrestorable
                if unrestorable:
                    metrics.UNRESTORABLE.inc()
                result = {
                    "output": restorer.text,
                    "unrestorable": unrestorable,
                    "model": completion.model,
                    "first_token_ms": _ms(completion.first_token_at, started),
                    "total_ms": _ms(completion.finished_at, started),
                    "prompt_tokens": completion.prompt_tokens,
                    "completion_tokens": completion.completion_tokens,
                }
                if completion.stopped:
                    status = writer.status
                elif not restorer.text.strip():
                    status = await writer.fail("the model returned no text")
                    result["error"] = "the model returned no text"
                else:
                    status = await writer.finish(
                        finished_at=completion.finished_at,
                        model=completion.model,
                        unrestorable=unrestorable,
                        warning=_unrestorable_warning(unrestorable),
                    )
                    if writer.final_text is not None:
                        result["output"] = writer.final_text
        await started_record
        if writer.superseded:
            log.warning("suggestion %s was taken over by another attempt", sid)
            return status
        metrics.SUGGESTIONS.labels(status.value).inc()
        if result.get("first_token_ms") is not None:
            metrics.FIRST_TOKEN_SECONDS.observe(result["first_token_ms"] / 1000)
        metrics.TOTAL_SECONDS.observe(time.time() - started)
        await self._records.update(
            sid, {**result, "status": status.value, "finished_at": time.time()}
        )
        log.info("suggestion %s ended %s", sid, status.value)
        return status


def _unrestorable_warning(unrestorable: list[str]) -> str | None:
    if not unrestorable:
        return None
    return (
        f"the model changed or made up placeholders for secrets ({', '.join(unrestorable)}):"
        " they cannot be put back, so this suggestion cannot be accepted; reject it and ask again"
    )


def _ms(at: float | None, since: float) -> float | None:
    return None if at is None else round((at - since) * 1000, 2)
