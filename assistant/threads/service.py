"""What the thread routes call: create and list threads, post, edit and delete messages, stop
an answer. Runs in the pods; it never talks to the model, it queues answers for workers.

Every change is stored first, then mirrored into the thread's live document, so what members
see live is never ahead of the record. Access is the caller's job: a method here runs once
the user is known to be a member (reads) or an editor (writes) of the workspace."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc

from ..cleansing import cleanse_instruction
from ..limits import Limiter
from ..queue import JobQueue, QueueFullError
from . import live
from .jobs import AnswerJob
from .store import AnswerStatus, Message, Role, Thread, ThreadStore

Edit = Callable[[str, Callable[[Doc], Any]], Awaitable[Any]]
ABANDONED = "nobody finished this answer (the assistant stopped); ask again"
MENTION = re.compile(r"(?i)(?<![\w@])@assistant\b")


@dataclass(frozen=True)
class ThreadsConfig:
    max_message_chars: int = 8_000
    max_title_chars: int = 200
    answer_stale_s: float = 300.0
    """An answer streaming longer than this has nobody writing it (its model call would have
    timed out and its job been reclaimed by now): the next read ends it failed. Covers what a
    reclaim cannot, an embedded server killed mid-answer, whose queue was in its memory."""


@dataclass(frozen=True)
class Member:
    user_id: str
    username: str
    workspace_id: str


class ThreadNotFoundError(LookupError):
    pass


class MessageNotFoundError(LookupError):
    pass


class NotYoursError(PermissionError):
    """Only a message's author edits or deletes it."""


class InvalidMessageError(ValueError):
    pass


class NoAlternativeError(Exception):
    """Preferring an answer needs another done answer to the same question."""


class AnswerFinishedError(Exception):
    """Stop was asked of an answer that is no longer streaming."""

    def __init__(self, status: AnswerStatus) -> None:
        super().__init__(f"the answer is already {status.value}")
        self.status = status


class Threads:
    def __init__(
        self,
        store: ThreadStore,
        edit: Edit,
        queue: JobQueue,
        limiter: Limiter,
        config: ThreadsConfig,
        *,
        new_id: Callable[[], str],
        register_live: Callable[[str, str], Awaitable[None]],
        assistant_name: str = "assistant",
    ) -> None:
        self._store = store
        self._edit = edit
        self._queue = queue
        self._limiter = limiter
        self._config = config
        self._new_id = new_id
        self._register_live = register_live
        self._lists: set[str] = set()
        self._assistant_name = assistant_name

    # -- threads -----------------------------------------------------------------------------

    async def create(
        self, member: Member, *, title: str, doc_id: str | None, answer_every: bool
    ) -> Thread:
        shown = cleanse_instruction(title, self._config.max_title_chars) or "Conversation"
        now = time.time()
        thread = Thread(
            id=self._new_id(),
            workspace_id=member.workspace_id,
            title=shown,
            created_by=member.user_id,
            created_by_name=member.username,
            created_at=now,
            updated_at=now,
            doc_id=doc_id,
            answer_every=answer_every,
        )
        # The live document belongs to the workspace before anything can be read from it.
        await self._register_live(live.live_id(thread.id), member.workspace_id)
        await self._store.create_thread(thread)
        await self._edit(live.live_id(thread.id), lambda doc: live.set_thread(doc, thread))
        await self._touch(thread)
        return thread

    async def list_doc(self, workspace_id: str) -> str:
        """The workspace's live thread list (``live.list_id``), registered on first use."""
        list_id = live.list_id(workspace_id)
        if list_id not in self._lists:
            await self._register_live(list_id, workspace_id)
            self._lists.add(list_id)
        return list_id

    async def _touch(self, thread: Thread) -> None:
        """Tells the members' thread lists that this thread is new or has a new message."""
        list_id = await self.list_doc(thread.workspace_id)
        await self._edit(list_id, lambda doc: live.touch(doc, thread))

    async def thread(self, workspace_id: str, thread_id: str) -> Thread:
        """Raises ThreadNotFoundError for a thread of another workspace too: its existence is
        nobody else's business."""
        thread = await self._store.get_thread(thread_id)
        if thread is None or thread.workspace_id != workspace_id:
            raise ThreadNotFoundError(thread_id)
        return thread

    async def list(
        self,
        workspace_id: str,
        *,
        doc_id: str | None = None,
        before: float | None = None,
        limit: int = 50,
    ) -> list[Thread]:
        return await self._store.threads(workspace_id, doc_id=doc_id, before=before, limit=limit)

    async def messages(
        self, workspace_id: str, thread_id: str, *, before_seq: int | None, limit: int
    ) -> list[Message]:
        await self.thread(workspace_id, thread_id)
        found = await self._store.messages(thread_id, before_seq=before_seq, limit=limit)
        stale_before = time.time() - self._config.answer_stale_s
        for index, message in enumerate(found):
            if message.status is AnswerStatus.STREAMING and message.created_at < stale_before:
                with contextlib.suppress(AnswerFinishedError):
                    found[index] = await self._end(message, AnswerStatus.FAILED, ABANDONED)
        return found

    # -- messages ----------------------------------------------------------------------------

    async def post(
        self,
        member: Member,
        thread_id: str,
        *,
        text: str,
        ask: bool = False,
        selection: dict[str, Any] | None = None,
    ) -> tuple[Message, Message | None]:
        """The message, and the answer it asked for (streaming) or None. The assistant
        answers when the message mentions ``@assistant``, when ``ask`` is set, or when the
        thread answers every message."""
        thread = await self.thread(member.workspace_id, thread_id)
        shown = cleanse_instruction(text, self._config.max_message_chars)
        if not shown:
            raise InvalidMessageError("the message is empty")
        now = time.time()
        message = await self._store.add_message(
            Message(
                id=self._new_id(),
                thread_id=thread.id,
                workspace_id=thread.workspace_id,
                role=Role.USER,
                author_id=member.user_id,
                author_name=member.username,
                text=shown,
                created_at=now,
                selection=selection,
            )
        )
        await self._edit(live.live_id(thread.id), lambda doc: live.add(doc, message))
        await self._touch(dataclasses.replace(thread, updated_at=message.created_at))
        if not (ask or thread.answer_every or MENTION.search(shown)):
            return message, None
        return message, await self._ask(member, thread, message)

    async def _ask(self, member: Member, thread: Thread, question: Message) -> Message:
        answer_id = self._new_id()
        # Admitted before anything is written: a refused answer leaves no trace to clean up.
        await self._limiter.admit(member.user_id, thread.workspace_id, answer_id)
        try:
            answer = await self._store.add_message(
                Message(
                    id=answer_id,
                    thread_id=thread.id,
                    workspace_id=thread.workspace_id,
                    role=Role.ASSISTANT,
                    author_name=self._assistant_name,
                    text="",
                    created_at=time.time(),
                    status=AnswerStatus.STREAMING,
                    reply_to=question.id,
                )
            )
            await self._edit(live.live_id(thread.id), lambda doc: live.add(doc, answer))
            job = AnswerJob(
                thread_id=thread.id,
                workspace_id=thread.workspace_id,
                answer_id=answer.id,
                question_id=question.id,
                user_id=member.user_id,
                username=member.username,
                requested_at=answer.created_at,
            )
            try:
                await self._queue.put(job)
            except QueueFullError as exc:
                await self._end(answer, AnswerStatus.FAILED, f"the assistant is busy: {exc}")
                raise
        except BaseException:
            await self._limiter.release(thread.workspace_id, answer_id)
            raise
        return answer

    async def _owned(self, member: Member, thread_id: str, message_id: str) -> Message:
        await self.thread(member.workspace_id, thread_id)
        message = await self._store.get_message(message_id)
        if message is None or message.thread_id != thread_id:
            raise MessageNotFoundError(message_id)
        if message.role is not Role.USER or message.author_id != member.user_id:
            raise NotYoursError("only its author may change a message")
        if message.deleted_at is not None:
            raise MessageNotFoundError(message_id)
        return message

    async def edit(self, member: Member, thread_id: str, message_id: str, text: str) -> Message:
        await self._owned(member, thread_id, message_id)
        shown = cleanse_instruction(text, self._config.max_message_chars)
        if not shown:
            raise InvalidMessageError("the message is empty (delete it instead)")
        return await self._change(message_id, {"text": shown, "edited_at": time.time()})

    async def delete(self, member: Member, thread_id: str, message_id: str) -> Message:
        await self._owned(member, thread_id, message_id)
        return await self._change(message_id, {"text": "", "deleted_at": time.time()})

    async def _answer(self, member: Member, thread_id: str, answer_id: str) -> Message:
        await self.thread(member.workspace_id, thread_id)
        answer = await self._store.get_message(answer_id)
        if answer is None or answer.thread_id != thread_id or answer.role is not Role.ASSISTANT:
            raise MessageNotFoundError(answer_id)
        return answer

    async def vote(
        self, member: Member, thread_id: str, answer_id: str, value: str | None
    ) -> Message:
        """A member's thumbs up or down on an answer (one each; None takes it back)."""
        await self._answer(member, thread_id, answer_id)
        stored = await self._store.mark(answer_id, "votes", member.user_id, value, at=time.time())
        if stored is None:
            raise MessageNotFoundError(answer_id)
        await self._edit(live.live_id(thread_id), lambda doc: live.set_feedback(doc, stored))
        return stored

    async def prefer(
        self, member: Member, thread_id: str, answer_id: str, preferred: bool
    ) -> Message:
        """A member's choice of this answer over the other answers to its question (one per
        member and question; False takes it back). Returns the question."""
        answer = await self._answer(member, thread_id, answer_id)
        siblings = await self._store.replies(thread_id, answer.reply_to or "")
        if not any(s.id != answer_id and s.status is AnswerStatus.DONE for s in siblings):
            raise NoAlternativeError("regenerate first: the question has no other answer")
        if answer.status is not AnswerStatus.DONE:
            raise AnswerFinishedError(answer.status)
        question_id = answer.reply_to or ""
        question = await self._store.get_message(question_id)
        if question is None:
            raise MessageNotFoundError(question_id)
        if not preferred and question.preferences.get(member.user_id) != answer_id:
            return question  # taking back a choice this member did not make changes nothing
        stored = await self._store.mark(
            question_id,
            "preferences",
            member.user_id,
            answer_id if preferred else None,
            at=time.time(),
        )
        if stored is None:
            raise MessageNotFoundError(question_id)
        await self._edit(
            live.live_id(thread_id), lambda doc: live.set_preferred(doc, stored, siblings)
        )
        return stored

    async def regenerate(self, member: Member, thread_id: str, answer_id: str) -> Message:
        """A new answer to the question an ended answer answered, beside it (the first is
        kept: the two can be compared)."""
        answer = await self._answer(member, thread_id, answer_id)
        if answer.status is AnswerStatus.STREAMING:
            raise AnswerFinishedError(answer.status)  # still under way: stop it first
        question = await self._store.get_message(answer.reply_to or "")
        if question is None or question.deleted_at is not None:
            raise InvalidMessageError("the question this answered is gone")
        thread = await self.thread(member.workspace_id, thread_id)
        return await self._ask(member, thread, question)

    async def stop(self, member: Member, thread_id: str, answer_id: str) -> Message:
        """Any editor stops an answer under way; the worker ends its stream at its next
        write and keeps what was written."""
        await self.thread(member.workspace_id, thread_id)
        answer = await self._store.get_message(answer_id)
        if answer is None or answer.thread_id != thread_id or answer.role is not Role.ASSISTANT:
            raise MessageNotFoundError(answer_id)
        if answer.status is not AnswerStatus.STREAMING:
            raise AnswerFinishedError(answer.status)
        return await self._end(answer, AnswerStatus.STOPPED, f"stopped by {member.username}")

    async def _end(self, answer: Message, status: AnswerStatus, reason: str) -> Message:
        """Ends a streaming answer: the live document first (the worker's next write sees it
        there), then the record with the text streamed so far."""
        ended = await self._edit(
            live.live_id(answer.thread_id), lambda doc: live.end(doc, answer.id, status, reason)
        )
        changes: dict[str, Any] = {"status": status.value, "error": reason}
        if ended is not None:
            changes["text"] = ended
        else:
            # Not streaming live: it ended meanwhile (its worker records how), unless it is
            # older than the live window, where the record alone says it streams.
            current = await self._store.get_message(answer.id)
            if current is not None and current.status.final:
                raise AnswerFinishedError(current.status)
        stored = await self._store.update_message(answer.id, changes)
        assert stored is not None
        return stored

    async def _change(self, message_id: str, changes: dict[str, Any]) -> Message:
        stored = await self._store.update_message(message_id, changes)
        if stored is None:
            raise MessageNotFoundError(message_id)
        await self._edit(live.live_id(stored.thread_id), lambda doc: live.update(doc, stored))
        return stored
