"""What the HTTP routes call: ask, cancel, accept, reject, accept-all, list. Runs in the pods
(and in ``tandem serve`` embedded); it never talks to the model, it queues jobs for workers.

Access control is the caller's job (server/assistant_routes.py): by the time a method here
runs, the user is an editor of the document."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc

from sync.rooms import Rooms
from sync.types import DocId

from . import acceptance, anchors, board, metrics
from .acceptance import StaleError, UnrestorableError
from .anchors import AnchorError
from .cleansing import cleanse_instruction
from .limits import Limiter
from .queue import JobQueue, QueueFullError
from .records import Records
from .serial import Serializer
from .types import (
    AlreadyProposedError,
    Job,
    Mode,
    Status,
    SuggestionNotFoundError,
    TransitionError,
)


@dataclass(frozen=True)
class AssistantConfig:
    max_instruction_chars: int = 2_000
    max_selection_chars: int = 20_000
    context_chars: int = 12_000
    """Raw text captured on each side of the selection for the worker (intake trims it to
    the token budget)."""


@dataclass(frozen=True)
class Selection:
    """Code point offsets, or base64 Yjs relative positions, from the client."""

    start: int | None = None
    end: int | None = None
    anchor_start: str | None = None
    anchor_end: str | None = None


@dataclass(frozen=True)
class Actor:
    user_id: str
    username: str
    workspace_id: str


class InvalidRequestError(ValueError):
    """The request names a range or mode that cannot be used."""


class NotAcceptableError(Exception):
    """Explanations are read, not applied."""


class UnrestorableSecretError(Exception):
    """The proposal holds placeholders for secrets that cannot be put back."""

    def __init__(self, suggestion_id: str, reason: str) -> None:
        super().__init__(reason)
        self.suggestion_id = suggestion_id
        self.reason = reason


class StaleSuggestionError(Exception):
    def __init__(self, suggestion_id: str, reason: str) -> None:
        super().__init__(reason)
        self.suggestion_id = suggestion_id
        self.reason = reason


class Assistant:
    def __init__(
        self,
        rooms: Rooms,
        records: Records,
        queue: JobQueue,
        limiter: Limiter,
        serializer: Serializer,
        config: AssistantConfig,
        *,
        new_id: Any,
    ) -> None:
        self._rooms = rooms
        self._records = records
        self._queue = queue
        self._limiter = limiter
        self._serial = serializer
        self._config = config
        self._new_id = new_id

    async def _edit(self, doc_id: str, change: Any) -> Any:
        return await self._rooms.edit(DocId(doc_id), change)

    # -- asking ------------------------------------------------------------------------------

    async def request(
        self,
        doc_id: str,
        actor: Actor,
        *,
        mode: Mode,
        instruction: str,
        selection: Selection,
        language: str | None = None,
    ) -> str:
        sid = str(self._new_id())
        shown = cleanse_instruction(instruction, self._config.max_instruction_chars)
        if not shown and mode in (Mode.REWRITE,):
            raise InvalidRequestError("a rewrite needs an instruction")
        captured = await self._edit(doc_id, lambda doc: self._capture(doc, selection, mode))
        await self._limiter.admit(actor.user_id, actor.workspace_id, sid)
        try:
            now = time.time()
            fields = {
                "id": sid,
                "doc_id": doc_id,
                "mode": mode.value,
                "instruction": shown,
                "anchor_start": captured["anchor_start"],
                "anchor_end": captured["anchor_end"],
                "original": captured["original"],
                "requested_by": actor.user_id,
                "requested_by_name": actor.username,
            }
            # Both must exist before a worker can take the job; neither needs the other.
            await asyncio.gather(
                self._edit(board.board_id(doc_id), lambda doc: board.create(doc, fields)),
                self._create_record(
                    {
                        "id": sid,
                        "workspace_id": actor.workspace_id,
                        "doc_id": doc_id,
                        "user_id": actor.user_id,
                        "username": actor.username,
                        "mode": mode.value,
                        "instruction": shown,
                        "original": captured["original"],
                        "original_sha256": board.sha256(captured["original"]),
                        "language": language,
                        "status": Status.STREAMING.value,
                        "created_at": now,
                    }
                ),
            )
            job = Job(
                suggestion_id=sid,
                doc_id=doc_id,
                workspace_id=actor.workspace_id,
                user_id=actor.user_id,
                username=actor.username,
                mode=mode,
                instruction=instruction,
                original=captured["original"],
                before=captured["before"],
                after=captured["after"],
                language=language,
                requested_at=now,
            )
            try:
                await self._queue.put(job)
                metrics.REQUESTS.labels("queued").inc()
                metrics.QUEUE_DEPTH.set(await self._queue.depth())
            except QueueFullError as exc:
                metrics.REQUESTS.labels("queue_full").inc()
                busy = f"the assistant is busy: {exc}"
                await self._limiter.release(actor.workspace_id, sid)
                await self._edit(
                    board.board_id(doc_id),
                    lambda doc: board.transition(doc, sid, Status.FAILED, error=busy),
                )
                raise
        except Exception:
            # Nothing will stream: the slot goes back (releasing twice is harmless).
            await self._limiter.release(actor.workspace_id, sid)
            raise
        return sid

    async def propose(
        self,
        doc_id: str,
        actor: Actor,
        *,
        start: int,
        end: int,
        original: str,
        replacement: str,
        source: dict[str, Any],
        model: str | None = None,
        prompt: list[dict[str, str]] | None = None,
        answer: str | None = None,
        suggestion_id: str | None = None,
    ) -> str:
        """A suggestion written by no model call (an answer's code block): anchored like a
        request's, created pending with its proposal, so accept, reject, stale and accept-all
        treat it as any other. ``prompt`` and ``answer`` (the model's whole answer) go to the
        record alone, for the learning loop. Raises InvalidRequestError when
        ``text[start:end]`` is no longer ``original`` (the file changed since the block was
        located), AlreadyProposedError when ``suggestion_id`` was taken by another call."""
        sid = suggestion_id or str(self._new_id())
        mode = Mode.REWRITE if start < end else Mode.COMPLETE

        def capture(doc: Doc) -> dict[str, Any]:
            captured = self._capture(doc, Selection(start, end), mode)
            if captured["original"] != original:
                raise InvalidRequestError("the file changed meanwhile: look at the edits again")
            return captured

        captured = await self._edit(doc_id, capture)
        now = time.time()
        fields = {
            "id": sid,
            "doc_id": doc_id,
            "mode": mode.value,
            "instruction": "",
            "anchor_start": captured["anchor_start"],
            "anchor_end": captured["anchor_end"],
            "original": original,
            "requested_by": actor.user_id,
            "requested_by_name": actor.username,
            "model": model,
            "source": source,
        }

        def pending(doc: Doc) -> None:
            with doc.transaction():
                board.create(doc, fields)
                board.append(doc, sid, replacement)
                board.transition(
                    doc, sid, Status.PENDING, unrestorable=[], started_at=now, finished_at=now
                )

        # The record is the claim: of two members applying the same block at once, on any
        # pods, one stores it and writes the board, the other is refused.
        stored = await self._create_record(
            {
                "id": sid,
                "workspace_id": actor.workspace_id,
                "doc_id": doc_id,
                "user_id": actor.user_id,
                "username": actor.username,
                "mode": mode.value,
                "instruction": "",
                "original": original,
                "original_sha256": board.sha256(original),
                "output": replacement,
                "model": model,
                "status": Status.PENDING.value,
                "source": source,
                "set_id": source.get("set_id"),
                "answer_id": source.get("answer_id"),
                "prompt": prompt,
                "answer": answer,
                "created_at": now,
                "finished_at": now,
            }
        )
        if not stored:
            raise AlreadyProposedError(sid)
        await self._edit(board.board_id(doc_id), pending)
        return sid

    async def _create_record(self, record: dict[str, Any]) -> bool:
        return await self._records.create(record)

    def _capture(self, doc: Doc, selection: Selection, mode: Mode) -> dict[str, Any]:
        text = acceptance.text_of(doc)
        value = str(text)
        try:
            if selection.anchor_start is not None and selection.anchor_end is not None:
                start = anchors.resolve(text, selection.anchor_start)
                end = anchors.resolve(text, selection.anchor_end)
            elif selection.start is not None and selection.end is not None:
                start, end = selection.start, selection.end
            else:
                raise InvalidRequestError(
                    "range needs start and end, or anchor_start and anchor_end"
                )
        except AnchorError as exc:
            raise InvalidRequestError(f"bad anchor: {exc}") from None
        if not 0 <= start <= end <= len(value):
            raise InvalidRequestError(f"range {start}..{end} is outside the text (0..{len(value)})")
        if end - start > self._config.max_selection_chars:
            raise InvalidRequestError(
                f"the selection is longer than {self._config.max_selection_chars} characters"
            )
        if start == end and mode is not Mode.COMPLETE:
            raise InvalidRequestError(f"{mode.value} needs a selection; complete takes a cursor")
        context = self._config.context_chars
        return {
            "anchor_start": anchors.encode(text, start),
            "anchor_end": anchors.encode(text, end),
            "original": value[start:end],
            "before": value[max(0, start - context) : start],
            "after": value[end : end + context],
        }

    # -- deciding ----------------------------------------------------------------------------

    async def _decided(
        self, doc_id: str, sid: str, actor: Actor, action: str, via: str, detail: str | None = None
    ) -> None:
        metrics.DECISIONS.labels(action).inc()
        await self._records.decide(
            {
                "suggestion_id": sid,
                "workspace_id": actor.workspace_id,
                "doc_id": doc_id,
                "action": action,
                "user_id": actor.user_id,
                "username": actor.username,
                "at": time.time(),
                "via": via,
                "detail": detail,
            }
        )

    def _who(self, actor: Actor) -> dict[str, Any]:
        return {
            "decided_by": actor.user_id,
            "decided_by_name": actor.username,
            "decided_at": time.time(),
        }

    async def accept(self, doc_id: str, sid: str, actor: Actor) -> dict[str, Any]:
        """Raises SuggestionNotFoundError, TransitionError (not pending: e.g. accepted twice),
        NotAcceptableError, UnrestorableSecretError (changing nothing), StaleSuggestionError
        (and marks it stale)."""
        board_id = board.board_id(doc_id)
        async with self._serial.turn(doc_id):
            await self._check_restored(doc_id, sid)

            def claim(doc: Doc) -> dict[str, Any]:
                suggestion = board.read(doc, sid)
                if suggestion["mode"] == Mode.EXPLAIN.value:
                    raise NotAcceptableError("an explanation cannot be applied to the text")
                board.transition(
                    doc, sid, Status.ACCEPTED, expect=Status.PENDING, **self._who(actor)
                )
                return suggestion

            suggestion = await self._edit(board_id, claim)
            try:
                await self._edit(doc_id, lambda doc: acceptance.accept(doc, suggestion))
            except StaleError as exc:
                reason = str(exc)
                await self._edit(
                    board_id,
                    lambda doc: board.transition(doc, sid, Status.STALE, error=reason),
                )
                await self._decided(doc_id, sid, actor, Status.STALE.value, "accept", reason)
                raise StaleSuggestionError(sid, reason) from None
        await self._decided(doc_id, sid, actor, Status.ACCEPTED.value, "accept")
        return {"id": sid, "status": Status.ACCEPTED.value}

    async def _check_restored(self, doc_id: str, sid: str) -> None:
        """Before the claim: a refused accept leaves the suggestion pending for a reject. The
        proposal no longer changes once pending, and the turn keeps other accepts out."""
        suggestion = await self._edit(board.board_id(doc_id), lambda doc: board.read(doc, sid))
        if suggestion["status"] != Status.PENDING.value or suggestion["mode"] == Mode.EXPLAIN.value:
            return  # the claim says why not
        try:
            await self._edit(doc_id, lambda doc: acceptance.check_restored(doc, suggestion))
        except UnrestorableError as exc:
            raise UnrestorableSecretError(sid, str(exc)) from None

    async def accept_all(self, doc_id: str, actor: Actor) -> dict[str, list[str]]:
        board_id = board.board_id(doc_id)
        async with self._serial.turn(doc_id):
            pending = [
                s
                for s in await self._edit(board_id, board.read_all)
                if s["status"] == Status.PENDING.value and s["mode"] != Mode.EXPLAIN.value
            ]
            outcome = await self._edit(doc_id, lambda doc: acceptance.accept_many(doc, pending))

            def settle(doc: Doc) -> None:
                for sid, result in outcome.items():
                    if result == "applied":
                        board.transition(doc, sid, Status.ACCEPTED, **self._who(actor))
                    elif result == "stale":
                        board.transition(
                            doc, sid, Status.STALE, error="the text changed since it was asked for"
                        )

            await self._edit(board_id, settle)
        report: dict[str, list[str]] = {
            "applied": [],
            "overlapping": [],
            "stale": [],
            "unrestorable": [],
        }
        for s in pending:  # document order of the report follows creation order of suggestions
            report[outcome[s["id"]]].append(s["id"])
        for sid in report["applied"]:
            await self._decided(doc_id, sid, actor, Status.ACCEPTED.value, "accept_all")
        for sid in report["stale"]:
            await self._decided(doc_id, sid, actor, Status.STALE.value, "accept_all")
        return report

    async def reject(self, doc_id: str, sid: str, actor: Actor) -> dict[str, Any]:
        async with self._serial.turn(doc_id):
            await self._edit(
                board.board_id(doc_id),
                lambda doc: board.transition(doc, sid, Status.REJECTED, **self._who(actor)),
            )
        await self._decided(doc_id, sid, actor, Status.REJECTED.value, "reject")
        return {"id": sid, "status": Status.REJECTED.value}

    async def cancel(self, doc_id: str, sid: str, actor: Actor) -> dict[str, Any]:
        async with self._serial.turn(doc_id):
            await self._edit(
                board.board_id(doc_id),
                lambda doc: board.transition(
                    doc,
                    sid,
                    Status.CANCELLED,
                    expect=Status.STREAMING,
                    error=f"cancelled by {actor.username}",
                    finished_at=time.time(),
                    **self._who(actor),
                ),
            )
        await self._decided(doc_id, sid, actor, Status.CANCELLED.value, "cancel")
        return {"id": sid, "status": Status.CANCELLED.value}

    async def list(self, doc_id: str) -> list[dict[str, Any]]:
        return list(await self._edit(board.board_id(doc_id), board.read_all))

    async def get(self, doc_id: str, sid: str) -> dict[str, Any]:
        return dict(await self._edit(board.board_id(doc_id), lambda doc: board.read(doc, sid)))


__all__ = [
    "Actor",
    "Assistant",
    "AssistantConfig",
    "InvalidRequestError",
    "NotAcceptableError",
    "Selection",
    "StaleSuggestionError",
    "SuggestionNotFoundError",
    "TransitionError",
    "UnrestorableSecretError",
]
