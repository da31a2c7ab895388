"""The port for what the learning loop keeps: runs of ``tandem finetune``, the model registry
per workspace, and the outcomes of suggestions. MongoDB when configured, else a SQLite file;
one contract suite (tests/learning/test_learning_store_contract.py) runs against both.

Everything is a plain JSON-able dict at this boundary, so both stores keep it as is:

- run: ``workspace_id, day`` (UTC ``YYYY-MM-DD``, the idempotency key), ``state`` (see
  ``RunState``), ``started_at, updated_at, cutoff`` (examples labelled up to then were seen),
  ``trainer, attempts, new_examples, examples {train, validation}, counts, manifest_key,
  dataset_sha256, progress {step, total_steps, loss, tokens_per_s, eta_s}, loss [{step,
  loss, epoch}], eval_loss, model_id, fine_tuned_model, scores {candidate, current}, reason,
  error`` and what the trainer reports (``job_id``, ``base_revision``, ``hyperparameters``)
- model: ``workspace_id, model_id, run_day, trainer, base_model, base_revision, created_at``
- pointer: ``workspace_id, history`` (promoted model ids, oldest first; the last is current,
  the one before it the rollback target), ``updated_at``
- outcome: ``suggestion_id, workspace_id, doc_id, user_id, kind`` (see ``OutcomeKind``),
  ``similarity, final_text, decided_at, computed_at`` and the example fields
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

Run = dict[str, Any]
ModelEntry = dict[str, Any]
Pointer = dict[str, Any]
Outcome = dict[str, Any]


class RunState(StrEnum):
    STARTED = "started"
    """Claimed: no dataset stored yet."""
    SKIPPED = "skipped"
    """Too few new examples, or training not allowed: nothing to do today."""
    TRAINING = "training"
    """The dataset is stored and the trainer was called: a rerun calls it again, and it
    resumes (a checkpoint, the provider's job) rather than training twice."""
    SUBMITTED = "submitted"
    """What runs of the jobs API were called before ``training``; read as ``training``."""
    FAILED = "failed"
    """The trainer failed (``error`` says why); a rerun tries again, up to a limit."""
    REJECTED = "rejected"
    """The candidate did not beat the current model."""
    PROMOTED = "promoted"

    @property
    def final(self) -> bool:
        return self in (RunState.SKIPPED, RunState.REJECTED, RunState.PROMOTED)

    @property
    def training(self) -> bool:
        return self in (RunState.TRAINING, RunState.SUBMITTED)


class OutcomeKind(StrEnum):
    KEPT = "kept"
    EDITED = "edited"
    REVERTED = "reverted"
    REWRITTEN = "rewritten"
    """A rejected suggestion whose range a person then rewrote: the human text is the label."""
    UNCHANGED = "unchanged"
    """A rejected suggestion whose text nobody touched: no preferred text, no example."""
    GONE = "gone"
    """The text around the anchors no longer exists: no label."""
    APPROVED = "approved"
    """A thumbs up on a thread's answer (``thread_examples``)."""
    PREFERRED = "preferred"
    """An answer chosen over another answer to the same question."""
    DISLIKED = "disliked"
    """A thumbs down on an answer, paired with another answer to its question that was
    approved or preferred."""


class LearningStore(Protocol):
    # -- runs ----------------------------------------------------------------------------------
    async def claim_run(self, run: Run) -> bool:
        """Inserts the run unless one exists for (workspace_id, day); False when it existed."""
        ...

    async def run(self, workspace_id: str, day: str) -> Run | None: ...

    async def save_run(self, run: Run) -> None:
        """Replaces the run stored for (workspace_id, day)."""
        ...

    async def runs(self, workspace_id: str) -> list[Run]:
        """Newest day first."""
        ...

    # -- registry ------------------------------------------------------------------------------
    async def add_model(self, entry: ModelEntry) -> None:
        """Idempotent for the same (workspace_id, model_id)."""
        ...

    async def models(self, workspace_id: str) -> list[ModelEntry]:
        """Oldest first."""
        ...

    async def pointer(self, workspace_id: str) -> Pointer | None: ...

    async def save_pointer(self, pointer: Pointer) -> None: ...

    # -- outcomes ------------------------------------------------------------------------------
    async def save_outcome(self, outcome: Outcome) -> None:
        """Replaces the outcome stored for the same suggestion_id."""
        ...

    async def outcomes(self, workspace_id: str) -> list[Outcome]:
        """Ordered by decided_at, then suggestion id."""
        ...

    # -- privacy -------------------------------------------------------------------------------
    async def workspaces(self) -> list[str]:
        """Workspaces with runs, models or outcomes."""
        ...

    async def delete_workspace(self, workspace_id: str) -> None:
        """Runs, models, pointer and outcomes go. Idempotent."""
        ...

    async def aclose(self) -> None: ...
