"""The worker's side of threads: takes an answer job, builds the conversation's prompt from the
stored thread, streams the model's answer into the thread's live document, and records it.

Streaming is throttled as suggestions are: the first text goes out at once, then at most one
document update per ``flush_interval_s`` with everything that arrived meanwhile. Each write
reads the answer's status back, so a stop by anyone ends the stream at the next write. An
attempt owns its answer (``live.begin``): a job reclaimed from a dead worker starts the
answer over under a new owner, and the old attempt, if it was only slow, stops at its next
write instead of interleaving text."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from pycrdt import Doc, Text

from .. import metrics
from ..consumers import Consumers
from ..limits import Limiter
from ..model_client import ModelClient, ModelError
from ..queue import JobQueue
from . import live
from .conversation import AttachedDocument, ConversationLimits, Prompt, Source, build, citations
from .jobs import AnswerJob
from .store import AnswerStatus, Message, Role, Thread, ThreadStore

log = logging.getLogger(__name__)

Edit = Callable[[str, Callable[[Doc], object]], Awaitable[object]]
Lookup = Callable[[str], Awaitable[str | None]]
Retrieve = Callable[[str, str, int], Awaitable[Sequence[Source]]]


@dataclass(frozen=True)
class AnswererConfig:
    workers: int = 2
    flush_interval_s: float = 0.04
    heartbeat_s: float = 10.0
    history_messages: int = 200
    """How many of the thread's latest messages are read to build the prompt (the token
    budget then decides how many are sent)."""
    conversation: ConversationLimits = field(default_factory=ConversationLimits)
    passages: int = 12
    """How many passages are retrieved for an answer (the knowledge budget keeps fewer)."""
    query_chars: int = 1_000


async def _nothing(_: str) -> str | None:
    return None


async def _none() -> None:
    return None


class Answerer:
    def __init__(
        self,
        store: ThreadStore,
        edit: Edit,
        model: ModelClient,
        limiter: Limiter,
        config: AnswererConfig,
        *,
        instructions: Callable[[str], Awaitable[str]],
        model_for: Lookup = _nothing,
        doc_path: Lookup = _nothing,
        retrieve: Retrieve | None = None,
    ) -> None:
        """``retrieve(workspace_id, query, limit)``: the workspace's passages for a question,
        best first (None: answers see no workspace files beyond the attached one)."""
        self._store = store
        self._edit = edit
        self._model = model
        self._limiter = limiter
        self._config = config
        self._instructions = instructions
        self._model_for = model_for
        self._doc_path = doc_path
        self._retrieve = retrieve
        self._consumers = Consumers(
            self.answer,
            self._fail,
            loops=config.workers,
            heartbeat_s=config.heartbeat_s,
            kind="answer",
        )

    async def serve(self, queue: JobQueue, name: str) -> None:
        await self._consumers.serve(queue, name)

    def drain(self) -> None:
        """Take no more jobs; a loop on an answer ends after it (as the suggestion worker's)."""
        self._consumers.drain()

    async def _fail(self, job: AnswerJob, reason: str) -> None:
        """No queue hands this job out again: the answer ends failed, not streaming forever."""
        failed = AnswerStatus.FAILED
        text = await self._edit(
            live.live_id(job.thread_id), lambda doc: live.end(doc, job.answer_id, failed, reason)
        )
        if text is not None:
            await self._store.update_message(
                job.answer_id, {"status": failed.value, "error": reason, "text": text}
            )

    async def answer(self, job: AnswerJob) -> AnswerStatus:
        try:
            return await self._answer(job)
        finally:
            with contextlib.suppress(Exception):
                await self._limiter.release(job.workspace_id, job.answer_id)

    async def _answer(self, job: AnswerJob) -> AnswerStatus:
        started = time.time()
        metrics.ANSWER_QUEUE_SECONDS.observe(max(0.0, started - job.requested_at))
        thread = await self._store.get_thread(job.thread_id)
        answer = await self._store.get_message(job.answer_id)
        if thread is None or answer is None or answer.status is not AnswerStatus.STREAMING:
            return answer.status if answer is not None else AnswerStatus.FAILED
        model = await self._model_for(job.workspace_id) or self._model.config.model
        owner = f"{job.attempt}-{uuid.uuid4().hex[:12]}"
        live_id = live.live_id(job.thread_id)
        begun = await self._edit(live_id, lambda doc: live.begin(doc, job.answer_id, owner, model))
        if not begun:
            return AnswerStatus.STOPPED
        prompt = await self._prompt(job, thread, answer)
        stream = AnswerStream(self._edit, live_id, job.answer_id, owner, self._config)
        restorer = prompt.placeholders.stream()
        first_visible: list[float] = []

        async def add(piece: str) -> bool:
            shown = restorer.feed(piece)
            if not shown:
                return stream.status is AnswerStatus.STREAMING
            if not first_visible:
                first_visible.append(time.time())
            return await stream.add(shown)

        error = None
        completion = None
        try:
            async with stream:
                try:
                    completion = await self._model.stream(prompt.messages, add, model=model)
                    if rest := restorer.close():
                        await stream.add(rest)
                except ModelError as exc:
                    error = exc.reason
                    metrics.MODEL_ERRORS.labels(exc.kind).inc()
        except live.SupersededAnswerError:
            log.warning("answer %s was taken over by another attempt", job.answer_id)
            return AnswerStatus.STREAMING
        if error is None and not restorer.text.strip():
            error = "the model returned no text"
        final = AnswerStatus.FAILED if error else AnswerStatus.DONE
        fields: dict[str, object] = {"error": error} if error else {}
        if prompt.sources:
            fields["citations"] = citations(restorer.text, prompt.sources)
        ended = await self._edit(
            live_id, lambda doc: live.finish(doc, job.answer_id, owner, final, fields)
        )
        assert isinstance(ended, live.Ended)
        await self._store.update_message(
            job.answer_id,
            # The prompt as sent (secrets as placeholders) stays with the record alone: the
            # learning loop pairs it with the answer people judged.
            {
                "status": ended.status.value,
                "text": ended.text,
                "model": model,
                "prompt": prompt.messages,
                **fields,
            },
        )
        metrics.ANSWERS.labels(ended.status.value).inc()
        metrics.ANSWER_SECONDS.observe(time.time() - started)
        if first_visible:
            metrics.ANSWER_FIRST_TEXT_SECONDS.observe(first_visible[0] - started)
        if completion is not None and completion.completion_tokens is not None:
            metrics.ANSWER_TOKENS.labels("completion").inc(completion.completion_tokens)
        if completion is not None and completion.prompt_tokens is not None:
            metrics.ANSWER_TOKENS.labels("prompt").inc(completion.prompt_tokens)
        return ended.status

    async def _prompt(self, job: AnswerJob, thread: Thread, answer: Message) -> Prompt:
        earlier = await self._store.messages(
            job.thread_id, before_seq=answer.seq, limit=self._config.history_messages
        )
        # A regenerated answer does not see the answers it is an alternative to.
        history = [
            m for m in earlier if not (m.role is Role.ASSISTANT and m.reply_to == job.question_id)
        ]
        question = next((m for m in reversed(history) if m.id == job.question_id), None)
        document: Awaitable[AttachedDocument | None] = _none()
        if thread.doc_id is not None:
            document = self._document(thread.doc_id, question.selection if question else None)
        # Independent reads, on the way to the first token: at once.
        attached, instructions, passages = await asyncio.gather(
            document,
            self._instructions(job.workspace_id),
            self._passages(job.workspace_id, history),
        )
        return build(
            history,
            limits=self._config.conversation,
            instructions=instructions,
            document=attached,
            passages=passages,
        )

    async def _passages(self, workspace_id: str, history: list[Message]) -> Sequence[Source]:
        """What the workspace holds about the latest turns: the question first, then the two
        people's messages before it, so a follow-up ("and the tests?") keeps its subject. A
        failed search costs the answer its passages, not the answer."""
        if self._retrieve is None:
            return ()
        asked = [m.text for m in reversed(history) if m.role is Role.USER and m.text][:3]
        query = " ".join(asked)[: self._config.query_chars]
        if not query.strip():
            return ()
        began = time.perf_counter()
        try:
            return await self._retrieve(workspace_id, query, self._config.passages)
        except Exception:
            log.warning("retrieval for %s failed", workspace_id, exc_info=True)
            return ()
        finally:
            metrics.RETRIEVAL_SECONDS.observe(time.perf_counter() - began)

    async def _document(
        self, doc_id: str, selection: Mapping[str, object] | None
    ) -> AttachedDocument:
        def read(doc: Doc) -> str:
            return str(doc.get("content", type=Text))

        text = str(await self._edit(doc_id, read))
        span = None
        start, end = (selection or {}).get("start"), (selection or {}).get("end")
        if isinstance(start, int):
            span = (start, end if isinstance(end, int) else start)
        return AttachedDocument(await self._doc_path(doc_id) or doc_id, text, span)


class AnswerStream:
    """Buffers streamed text and writes it into the live answer: the first piece at once,
    then at most once per flush interval."""

    def __init__(
        self, edit: Edit, live_id: str, answer_id: str, owner: str, config: AnswererConfig
    ) -> None:
        self._edit = edit
        self._live_id = live_id
        self._answer_id = answer_id
        self._owner = owner
        self._interval = config.flush_interval_s
        self._buffer: list[str] = []
        self._last = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self.status = AnswerStatus.STREAMING

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._flusher is not None:
            await self._flusher
        if exc_info[0] is None and self._buffer:
            await self._flush()

    async def add(self, piece: str) -> bool:
        """Never two writes at once: pieces land in the order they came."""
        self._buffer.append(piece)
        if self._flusher is None:
            wait = self._last + self._interval - time.monotonic()
            if wait <= 0:
                await self._flush()
            else:
                self._flusher = asyncio.get_running_loop().create_task(self._later(wait))
        return self.status is AnswerStatus.STREAMING

    async def _later(self, wait: float) -> None:
        try:
            await asyncio.sleep(wait)  # the throttle itself: a time, not a synchronization
            await self._flush()
        finally:
            self._flusher = None

    async def _flush(self) -> None:
        piece, self._buffer = "".join(self._buffer), []
        self._last = time.monotonic()
        answer_id, owner = self._answer_id, self._owner
        status = await self._edit(
            self._live_id, lambda doc: live.append(doc, answer_id, owner, piece)
        )
        assert isinstance(status, AnswerStatus)
        self.status = status
