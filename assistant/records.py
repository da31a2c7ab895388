"""Records of every suggestion and every decision: the raw material of the learning loop
(issue 7 reads them). MongoDB when ``backends.mongo`` is set, a SQLite file otherwise; one
contract suite (tests/assistant/test_assist_records.py) runs against both.

Schema (MongoDB collection ``assistant_suggestions``, ``_id`` = suggestion id; the SQLite
table keeps the same fields as JSON plus indexed columns). Every field may be absent until the
stage that writes it:

- at request (pod): ``id, workspace_id, doc_id, user_id, username, mode, instruction``
  (cleansed, as the user typed it), ``original`` (the selected text, raw), ``original_sha256``,
  ``language`` (client hint or None), ``status`` = "streaming", ``created_at`` (epoch s)
- when a worker starts: ``model``, ``prompt`` (the chat messages exactly as sent: cleansed and
  redacted), ``redactions`` ({kind: count}), ``analysis`` ({kind, language, intent}),
  ``started_at``, ``attempt``
- when it ends: ``status`` (pending | failed | stale | cancelled), ``output`` (the proposal
  text as shown, the secrets the model saw as placeholders put back), ``unrestorable``
  (placeholders it holds that stand for no secret), ``error`` (reason or None),
  ``first_token_ms``, ``total_ms`` (from started_at), ``queue_ms`` (created_at to
  started_at), ``prompt_tokens``, ``completion_tokens``
  (from the model's usage, None when it sent none), ``finished_at``
- made from an answer's code block (no worker): ``source`` ({kind: "thread", thread_id,
  answer_id, set_id, block}), and ``set_id``, ``answer_id`` at the top for the query
- at each decision: ``status`` (accepted | rejected | stale | cancelled), ``decided_by``,
  ``decided_at``

Decisions (collection ``assistant_decisions``, append-only): ``suggestion_id, workspace_id,
doc_id, action`` (accepted | rejected | stale | cancelled), ``user_id, username, at`` (epoch s),
``via`` ("accept" | "accept_all" | "reject" | "cancel"), ``detail`` (e.g. why stale).
Undoing an accepted suggestion is an ordinary edit and appears in the edit history (issue 7).

Workspace settings (collection ``assistant_workspaces``, ``_id`` = workspace id):
``instructions`` (what the model is told for every request there), ``updated_by``,
``updated_at``.
"""

from __future__ import annotations

from typing import Any, Protocol

SuggestionRecord = dict[str, Any]
Decision = dict[str, Any]


class Records(Protocol):
    async def create(self, record: SuggestionRecord) -> bool:
        """Idempotent for the same id (a retried request writes nothing twice); True when
        this call stored it, so a chosen id is a claim only one caller wins."""
        ...

    async def update(self, suggestion_id: str, fields: dict[str, Any]) -> None: ...

    async def decide(self, decision: Decision) -> None:
        """Appends the decision and sets the suggestion's status/decided_by/decided_at."""
        ...

    async def get(self, suggestion_id: str) -> SuggestionRecord | None: ...

    async def decisions(self, suggestion_id: str) -> list[Decision]:
        """In the order they were made."""
        ...

    async def for_workspace(
        self, workspace_id: str, *, since: float = 0.0, limit: int = 1000
    ) -> list[SuggestionRecord]:
        """Suggestions created at or after ``since``, oldest first."""
        ...

    async def with_source(
        self, *, set_id: str | None = None, answer_id: str | None = None
    ) -> list[SuggestionRecord]:
        """Suggestions made from a thread's answer (``source``, issue 24): those of one set, or
        of one answer, oldest first."""
        ...

    async def workspaces(self) -> list[str]:
        """Ids of the workspaces that have suggestions, sorted (the learning loop visits them)."""
        ...

    async def delete_workspace(self, workspace_id: str) -> int:
        """Removes the workspace's suggestions, decisions and settings; returns how many
        suggestions."""
        ...

    async def instructions(self, workspace_id: str) -> str:
        """The workspace's instructions for the model ("" when none were set)."""
        ...

    async def set_instructions(self, workspace_id: str, text: str, user_id: str) -> None: ...

    async def aclose(self) -> None: ...
