"""Streams a proposal into the suggestions document, throttled: a fast model must not cause one
document update per token. The first text goes out at once (time to first token is what people
feel); after that at most one update per ``flush_interval_s``, each carrying everything that
arrived meanwhile. Each flush also reports the suggestion's status, so a cancel or a stale mark
made by anyone stops the stream at the next flush. Every ``stale_check_s`` the anchored text
of the content doc is checked too: if someone edited it, the suggestion becomes stale."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Self

from pycrdt import Doc

from . import board
from .acceptance import StaleError, locate, text_of
from .serial import Serializer
from .types import Status, SupersededError, TransitionError

log = logging.getLogger(__name__)

Edit = Callable[[str, Callable[[Doc], Any]], Awaitable[Any]]


class ProposalWriter:
    def __init__(
        self,
        edit: Edit,
        doc_id: str,
        suggestion: dict[str, Any],
        *,
        flush_interval_s: float,
        stale_check_s: float,
        serializer: Serializer | None = None,
        owner: str | None = None,
    ) -> None:
        self._edit = edit
        self._owner = owner
        self.superseded = False
        """Another attempt of the same job took the suggestion over: this one stops quietly."""
        self._serializer = serializer
        self._doc_id = doc_id
        self._board_id = board.board_id(doc_id)
        self._suggestion = suggestion
        self._sid = suggestion["id"]
        self._interval = flush_interval_s
        self._stale_every = stale_check_s
        self._buffer: list[str] = []
        self._wake = asyncio.Event()
        self._last_flush = 0.0
        self._last_stale_check = time.monotonic()
        self._first_token_at: float | None = None
        self.status = Status.STREAMING
        self.flushes = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.final_text: str | None = None
        """The proposal as it was left for accepting (code fences removed), once finished."""

    async def __aenter__(self) -> Self:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        if not self._task.done():  # an error path: finish() and fail() stop it gracefully
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _stop_flushing(self) -> None:
        """Lets the flusher finish what it is doing and end, rather than cancelling it in the
        middle of a write or while it holds the document's turn (a cancellation that lands
        in a lease's cleanup can be swallowed, and a cancelled write tells us nothing)."""
        assert self._task is not None
        self._stopping = True
        self._wake.set()
        await self._task

    def _turn(self) -> AbstractAsyncContextManager[None]:
        """Status changes race pods' decisions: they take the document's turn."""
        if self._serializer is None:
            return contextlib.nullcontext()
        return self._serializer.turn(self._doc_id)

    async def _write(self, change: Callable[[Doc], Status]) -> Status:
        try:
            return Status(await self._edit(self._board_id, change))
        except SupersededError:
            self.superseded = True
            return Status.CANCELLED

    async def add(self, text: str) -> bool:
        """Queues text; False once the suggestion stopped streaming (cancelled, stale)."""
        if self._first_token_at is None:
            self._first_token_at = time.time()
        self._buffer.append(text)
        self._wake.set()
        return self.status is Status.STREAMING

    async def _run(self) -> None:
        while self.status is Status.STREAMING:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            wait = self._last_flush + self._interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # throttling by design, not synchronisation
            if self._stopping:
                return
            await self._flush()
            if time.monotonic() - self._last_stale_check >= self._stale_every:
                await self._check_stale()

    def _take(self) -> str:
        chunk = "".join(self._buffer)
        self._buffer.clear()
        return chunk

    async def _flush(self) -> None:
        chunk = self._take()
        self._last_flush = time.monotonic()
        first = self._first_token_at
        fields = {"first_token_at": first} if first is not None and self.flushes == 0 else {}
        self.status = await self._write(
            lambda doc: board.append(doc, self._sid, chunk, owner=self._owner, **fields)
        )
        self.flushes += 1

    async def _check_stale(self) -> None:
        self._last_stale_check = time.monotonic()
        if await self.still_anchored():
            return

        def mark(doc: Doc) -> Status:
            try:
                board.transition(
                    doc,
                    self._sid,
                    Status.STALE,
                    expect=Status.STREAMING,
                    owner=self._owner,
                    error="the selected text was edited while the suggestion was written",
                    finished_at=time.time(),
                )
            except TransitionError as exc:
                return exc.current
            return Status.STALE

        async with self._turn():
            self.status = await self._write(mark)

    async def still_anchored(self) -> bool:
        def check(doc: Doc) -> bool:
            try:
                locate(text_of(doc), self._suggestion)
            except StaleError:
                return False
            return True

        return bool(await self._edit(self._doc_id, check))

    async def finish(self, **fields: Any) -> Status:
        """Writes what is left and moves streaming -> pending in one transaction; returns the
        status it ended in (someone else's cancel or stale mark wins)."""
        await self._stop_flushing()
        if self.status is Status.STREAMING and not await self.still_anchored():
            await self._check_stale()
            return self.status
        chunk = self._take()
        first = self._first_token_at

        def done(doc: Doc) -> Status:
            current = board.append(doc, self._sid, chunk, owner=self._owner)
            if current is not Status.STREAMING:
                return current
            self.final_text = board.strip_fence(doc, self._sid, self._suggestion["original"])
            extra = {"first_token_at": first} if self.flushes == 0 and first else {}
            board.transition(doc, self._sid, Status.PENDING, owner=self._owner, **fields, **extra)
            return Status.PENDING

        async with self._turn():
            self.status = await self._write(done)
        return self.status

    async def fail(self, reason: str) -> Status:
        await self._stop_flushing()

        def failed(doc: Doc) -> Status:
            try:
                board.transition(
                    doc,
                    self._sid,
                    Status.FAILED,
                    expect=Status.STREAMING,
                    owner=self._owner,
                    error=reason,
                    finished_at=time.time(),
                )
            except TransitionError as exc:
                return exc.current
            return Status.FAILED

        async with self._turn():
            self.status = await self._write(failed)
        return self.status
