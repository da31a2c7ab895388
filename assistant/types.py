"""The assistant's shared vocabulary: modes, statuses with their allowed transitions, and the
job a request becomes on the queue."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    REWRITE = "rewrite"
    FIX = "fix"
    COMPLETE = "complete"
    EXPLAIN = "explain"


class Status(StrEnum):
    STREAMING = "streaming"
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    STALE = "stale"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self not in (Status.STREAMING, Status.PENDING)


_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.STREAMING: frozenset(
        {Status.PENDING, Status.STALE, Status.FAILED, Status.CANCELLED, Status.REJECTED}
    ),
    Status.PENDING: frozenset({Status.ACCEPTED, Status.REJECTED, Status.STALE}),
    # An accept claims the suggestion first, and finds out it is stale while holding it.
    Status.ACCEPTED: frozenset({Status.STALE}),
}


def can_move(current: Status, new: Status) -> bool:
    return new in _ALLOWED.get(current, frozenset())


class TransitionError(Exception):
    """The suggestion is not in a state that allows this (e.g. accepting a rejected one)."""

    def __init__(self, suggestion_id: str, current: Status, wanted: Status) -> None:
        super().__init__(f"suggestion {suggestion_id} is {current}, cannot become {wanted}")
        self.suggestion_id = suggestion_id
        self.current = current
        self.wanted = wanted


class SupersededError(Exception):
    """Another worker attempt took this suggestion over (the job was reclaimed): stop."""


class AlreadyProposedError(Exception):
    """The suggestion id chosen for a proposal was stored by another call first."""


class SuggestionNotFoundError(LookupError):
    """No suggestion with that id in the document."""


@dataclass(frozen=True)
class Job:
    """One request on the queue: everything a worker needs without asking a pod."""

    suggestion_id: str
    doc_id: str
    workspace_id: str
    user_id: str
    username: str
    mode: Mode
    instruction: str
    original: str
    before: str
    """Text before the selection (the context window's left part), raw document text."""
    after: str
    language: str | None = None
    """A hint from the client (file type), else the worker guesses."""
    requested_at: float = 0.0
    attempt: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Job:
        data = json.loads(raw)
        data["mode"] = Mode(data["mode"])
        return cls(**data)
