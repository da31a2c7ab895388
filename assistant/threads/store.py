"""Threads and their messages, stored: MongoDB when ``backends.mongo`` is set, a SQLite file
otherwise; one contract suite (tests/assistant/threads/test_thread_store.py) runs on both.

The store is the record: paging through old messages, the assistant's view of earlier turns
and the learning loop's examples read it. What members watch live is the thread's document
(``live.py``), which the server writes after the store.

MongoDB collections: ``assistant_threads`` (``_id`` = thread id, plus ``next_seq``, the
counter that orders its messages) and ``assistant_messages`` (``_id`` = message id), indexed by
(thread_id, seq) and (workspace_id, updated_at)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Protocol, Self


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class AnswerStatus(StrEnum):
    """A person's message is ``done`` when posted; an answer streams, then ends one way."""

    DONE = "done"
    STREAMING = "streaming"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self is not AnswerStatus.STREAMING


@dataclass(frozen=True)
class Thread:
    id: str
    workspace_id: str
    title: str
    created_by: str
    created_by_name: str
    created_at: float
    updated_at: float
    """The last message's time (or the creation's): threads list most recent first."""
    doc_id: str | None = None
    """The document it is attached to (opened beside it); None: the whole workspace."""
    answer_every: bool = False
    """The assistant answers every message; otherwise only those that mention it."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class Message:
    id: str
    thread_id: str
    workspace_id: str
    role: Role
    author_name: str
    """The username of the person, or the model's id for the assistant."""
    text: str
    created_at: float
    author_id: str | None = None
    """The person's user id; None for the assistant."""
    seq: int = 0
    """Its place in the thread, increasing from 1 (a value may be skipped: gaps are fine);
    the store assigns it when the message is added."""
    status: AnswerStatus = AnswerStatus.DONE
    reply_to: str | None = None
    """For an answer, the message it answers."""
    edited_at: float | None = None
    deleted_at: float | None = None
    """Deleted by its author: the text is gone ("" ), the place in the thread stays."""
    model: str | None = None
    error: str | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    """``{path, file_id, start_line, end_line}`` of each workspace passage the answer used."""
    selection: dict[str, Any] | None = None
    """What the asker had selected in the attached document: ``{start, end, text}``."""
    votes: dict[str, str] = field(default_factory=dict)
    """On an answer: each member's vote by user id, ``up`` or ``down`` (one each)."""
    votes_at: dict[str, float] = field(default_factory=dict)
    preferences: dict[str, str] = field(default_factory=dict)
    """On a question: the answer each member preferred among its alternatives, by user id."""
    preferences_at: dict[str, float] = field(default_factory=dict)
    judged: bool = False
    """A member voted on it or preferred one of its answers once: the learning loop reads
    these (``ThreadStore.judged``)."""
    prompt: list[dict[str, str]] | None = None
    """On an answer: the chat messages its model was sent, for the learning loop's examples;
    never shown."""

    @property
    def feedback(self) -> dict[str, int]:
        values = list(self.votes.values())
        return {"up": values.count("up"), "down": values.count("down")}

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["role"] = self.role.value
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        known = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        known["role"] = Role(known["role"])
        known["status"] = AnswerStatus(known.get("status", AnswerStatus.DONE))
        known["citations"] = list(known.get("citations") or [])
        for name in MARKS:
            known[name] = dict(known.get(name) or {})
            known[f"{name}_at"] = dict(known.get(f"{name}_at") or {})
        return cls(**known)

    def with_(self, **changes: Any) -> Message:
        return replace(self, **changes)


MARKS = ("votes", "preferences")
"""Per-member fields of a message (user id -> value, with the time in ``{name}_at``)."""
MESSAGE_UPDATABLE = frozenset(
    {"text", "status", "edited_at", "deleted_at", "model", "error", "citations", "prompt"}
)
THREAD_UPDATABLE = frozenset({"title", "answer_every", "updated_at"})


class ThreadStore(Protocol):
    async def create_thread(self, thread: Thread) -> None:
        """Idempotent for the same id."""
        ...

    async def get_thread(self, thread_id: str) -> Thread | None: ...

    async def threads(
        self,
        workspace_id: str,
        *,
        doc_id: str | None = None,
        before: float | None = None,
        limit: int = 50,
    ) -> list[Thread]:
        """The workspace's threads (only those attached to ``doc_id`` when given), most
        recently updated first, those updated strictly before ``before`` when given."""
        ...

    async def update_thread(self, thread_id: str, changes: dict[str, Any]) -> Thread | None:
        """Sets fields of THREAD_UPDATABLE; None when there is no such thread."""
        ...

    async def add_message(self, message: Message) -> Message:
        """Stores the message with the thread's next ``seq`` (the one given is ignored) and
        moves the thread's ``updated_at`` to its ``created_at``. Idempotent for the same id:
        a second add returns the stored message unchanged."""
        ...

    async def get_message(self, message_id: str) -> Message | None: ...

    async def update_message(self, message_id: str, changes: dict[str, Any]) -> Message | None:
        """Sets fields of MESSAGE_UPDATABLE; returns the message as stored, None when there
        is none."""
        ...

    async def mark(
        self, message_id: str, name: str, user_id: str, value: str | None, *, at: float
    ) -> Message | None:
        """Sets or clears (None) one member's value in the message's ``name`` (one of MARKS:
        a vote on an answer, ``up`` or ``down``; a question's preferred answer id),
        atomically beside other members' values, and marks the message judged; None when
        there is no such message."""
        ...

    async def judged(self, workspace_id: str) -> list[Message]:
        """The workspace's messages ever voted on or preferred among, in no set order."""
        ...

    async def judged_workspaces(self) -> list[str]:
        """Workspaces with a message ever voted on or preferred among, sorted."""
        ...

    async def replies(self, thread_id: str, message_id: str) -> list[Message]:
        """The answers to one message, oldest first."""
        ...

    async def messages(
        self, thread_id: str, *, before_seq: int | None = None, limit: int = 50
    ) -> list[Message]:
        """The last ``limit`` messages of the thread (those with seq < ``before_seq`` when
        given), oldest first: a page ends where the next older page's ``before_seq`` starts."""
        ...

    async def delete_workspace(self, workspace_id: str) -> int:
        """Removes the workspace's threads and messages; returns how many threads."""
        ...

    async def aclose(self) -> None: ...
