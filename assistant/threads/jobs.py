"""The job an answer becomes on its queue (a Redis stream of its own in cluster mode,
``ANSWERS_STREAM``): everything a worker needs to find the thread, the question and the
answer to stream into."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

ANSWERS_STREAM = "tandem:assistant:answers"


@dataclass(frozen=True)
class AnswerJob:
    thread_id: str
    workspace_id: str
    answer_id: str
    question_id: str
    user_id: str
    username: str
    requested_at: float
    attempt: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> AnswerJob:
        return cls(**json.loads(raw))
