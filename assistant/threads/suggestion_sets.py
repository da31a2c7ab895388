"""An answer's code blocks as edits of the workspace's files, and applying them as one set of
ordinary pending suggestions (``Assistant.propose``) that can be accepted together.

Files are resolved by path among the workspace's live text files (``drive``); a block's lines
are located in the file's current text (``edits.locate``). A set is the suggestions whose
records carry its ``set_id``."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc

from drive.entries import ROOT, Kind
from drive.tree import TreeView

from ..acceptance import text_of
from ..placeholders import mentions
from ..records import Records, SuggestionRecord
from ..service import Actor, Assistant, StaleSuggestionError, UnrestorableSecretError
from ..types import AlreadyProposedError, SuggestionNotFoundError, TransitionError
from . import edits
from .store import AnswerStatus, Message, Role, ThreadStore

ReadText = Callable[[str], Awaitable[str]]


class AnswerNotFoundError(LookupError):
    pass


class AnswerStreamingError(Exception):
    """The answer is still being written: its blocks may change."""


class BlockError(ValueError):
    def __init__(self, block: int, reason: str) -> None:
        super().__init__(f"block {block}: {reason}")
        self.block = block


class SetNotFoundError(LookupError):
    pass


@dataclass
class Edit:
    block: int
    language: str | None
    path: str | None
    file_id: str | None = None
    doc_id: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    applied: dict[str, Any] | None = None
    problem: str | None = None
    code: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = dict(vars(self))
        data.pop("code")
        return data


class AnswerEdits:
    def __init__(
        self,
        assistant: Assistant,
        records: Records,
        store: ThreadStore,
        drive: Any,
        edit: Callable[[str, Callable[[Doc], Any]], Awaitable[Any]],
    ) -> None:
        self._assistant = assistant
        self._records = records
        self._store = store
        self._drive = drive
        self._edit = edit

    async def _answer(self, workspace_id: str, thread_id: str, answer_id: str) -> Any:
        thread = await self._store.get_thread(thread_id)
        answer = await self._store.get_message(answer_id)
        if (
            thread is None
            or thread.workspace_id != workspace_id
            or answer is None
            or answer.thread_id != thread_id
            or answer.role is not Role.ASSISTANT
        ):
            raise AnswerNotFoundError(answer_id)
        return answer

    async def _read(self, doc_id: str) -> str:
        return str(await self._edit(doc_id, lambda doc: str(text_of(doc))))

    async def edits(self, workspace_id: str, thread_id: str, answer_id: str) -> list[Edit]:
        answer = await self._answer(workspace_id, thread_id, answer_id)
        return await self._edits(answer, await self._records.with_source(answer_id=answer_id))

    async def _edits(self, answer: Message, records: list[SuggestionRecord]) -> list[Edit]:
        workspace_id = answer.workspace_id
        files = {
            path: entry
            for path, entry in TreeView(await self._drive.store.all(workspace_id)).live_files(ROOT)
            if entry.kind is Kind.TEXT and entry.doc_id
        }
        applied = {
            r["source"]["block"]: {
                "set_id": r["set_id"],
                "suggestion_id": r["id"],
                "status": r.get("status"),
            }
            for r in records
        }
        found: list[Edit] = []
        for fence in edits.fences(answer.text):
            try:
                aim = edits.target(fence.info)
            except edits.TargetError as exc:
                found.append(Edit(fence.index, None, None, problem=str(exc)))
                continue
            item = Edit(fence.index, aim.language, aim.path, code=fence.code)
            item.applied = applied.get(fence.index)
            found.append(item)
            entry = files.get(aim.path or "")
            if aim.path is None:
                item.problem = "the block names no file (path=)"
                continue
            if entry is None:
                item.problem = f"no text file {aim.path} in this workspace"
                continue
            item.file_id, item.doc_id = entry.id, entry.doc_id
            if not fence.closed and answer.status is not AnswerStatus.DONE:
                item.problem = "the block was cut off"
                continue
            text = await self._read(entry.doc_id)
            left = [m for m in mentions(fence.code) if m not in text]
            if left:
                item.problem = f"it holds placeholders for secrets ({', '.join(left)})"
                continue
            try:
                item.start_line, item.end_line = edits.locate(text, fence.code, aim.lines)
            except edits.NoMatchError as exc:
                item.problem = str(exc)
        return found

    async def apply(
        self, actor: Actor, thread_id: str, answer_id: str, blocks: list[int] | None
    ) -> dict[str, Any]:
        """One set of pending suggestions for the chosen blocks (None: every applicable one).
        Raises BlockError for a block out of range, with a problem, or already pending."""
        answer = await self._answer(actor.workspace_id, thread_id, answer_id)
        if answer.status is AnswerStatus.STREAMING:
            raise AnswerStreamingError(answer_id)
        # One read of the block's suggestions for both the pending check and the claim's
        # number: a concurrent apply seen in it is refused here, one not yet seen claims
        # the same id and loses there.
        records = await self._records.with_source(answer_id=answer_id)
        found = await self._edits(answer, records)
        if blocks is None:
            chosen = [e for e in found if e.problem is None and not _pending(e)]
            if not chosen:
                raise BlockError(-1, "no block of this answer can be applied")
        else:
            chosen = []
            for i in dict.fromkeys(blocks):
                if not 0 <= i < len(found):
                    raise BlockError(i, f"the answer has {len(found)} code blocks")
                if found[i].problem is not None:
                    raise BlockError(i, found[i].problem or "")
                if _pending(found[i]):
                    raise BlockError(i, "it is already a pending suggestion")
                chosen.append(found[i])
        set_id = uuid.uuid4().hex
        tries = Counter(r["source"]["block"] for r in records)
        made = []
        for item in chosen:
            assert item.doc_id and item.start_line is not None and item.end_line is not None
            text = await self._read(item.doc_id)
            start, end = edits.span(text, item.start_line, item.end_line)
            # The n-th suggestion of this block has one id, whoever applies it: of applies
            # racing on any pods, one stores it (a block already rejected may come again).
            claim = f"{answer_id}/{item.block}/{tries[item.block]}"
            try:
                sid = await self._assistant.propose(
                    item.doc_id,
                    actor,
                    start=start,
                    end=end,
                    original=text[start:end],
                    replacement=edits.replacement(text, start, end, item.code),
                    source={
                        "kind": "thread",
                        "thread_id": thread_id,
                        "answer_id": answer_id,
                        "set_id": set_id,
                        "block": item.block,
                    },
                    model=answer.model,
                    prompt=answer.prompt,
                    answer=answer.text,
                    suggestion_id=hashlib.sha256(claim.encode()).hexdigest()[:32],
                )
            except AlreadyProposedError:
                raise BlockError(item.block, "it is already a pending suggestion") from None
            made.append(
                {
                    "block": item.block,
                    "doc_id": item.doc_id,
                    "file_id": item.file_id,
                    "path": item.path,
                    "suggestion_id": sid,
                }
            )
        return {"set_id": set_id, "suggestions": made}

    async def _set(self, workspace_id: str, set_id: str) -> list[dict[str, Any]]:
        found = await self._records.with_source(set_id=set_id)
        if not found or any(r["workspace_id"] != workspace_id for r in found):
            raise SetNotFoundError(set_id)
        return found

    async def get_set(self, workspace_id: str, set_id: str) -> dict[str, Any]:
        members = []
        for record in await self._set(workspace_id, set_id):
            try:
                status = (await self._assistant.get(record["doc_id"], record["id"]))["status"]
            except SuggestionNotFoundError:
                status = record.get("status")
            members.append(
                {
                    "block": record["source"]["block"],
                    "doc_id": record["doc_id"],
                    "suggestion_id": record["id"],
                    "status": status,
                }
            )
        source = (await self._set(workspace_id, set_id))[0]["source"]
        return {
            "set_id": set_id,
            "thread_id": source["thread_id"],
            "answer_id": source["answer_id"],
            "suggestions": members,
        }

    async def accept_set(self, actor: Actor, set_id: str) -> dict[str, list[str]]:
        """Each suggestion accepted on its own (its own staleness check): a stale one is
        reported and the others still apply; one no longer pending is skipped."""
        report: dict[str, list[str]] = {"accepted": [], "stale": [], "skipped": []}
        for record in await self._set(actor.workspace_id, set_id):
            sid = record["id"]
            try:
                await self._assistant.accept(record["doc_id"], sid, actor)
                report["accepted"].append(sid)
            except StaleSuggestionError:
                report["stale"].append(sid)
            except (TransitionError, UnrestorableSecretError, SuggestionNotFoundError):
                report["skipped"].append(sid)
        return report


def _pending(item: Edit) -> bool:
    return item.applied is not None and item.applied.get("status") == "pending"
