"""The trainer port: what the pipeline hands a trainer, and what it gets back. The pipeline
depends on this module alone, never on a trainer class; ``TANDEM_FT_TRAINER`` picks one:

- ``local`` (``trainers/local.py``): TRL + PEFT LoRA in the Job's own pod, the adapter and
  its checkpoints in object storage; served by ``tandem model serve`` or vLLM.
- ``openai-jobs`` (``trainers/openai_jobs.py``): any API compatible with OpenAI's files and
  fine_tuning.jobs (OpenAI itself takes no new jobs from 6 January 2027).

A trainer is called again for a run that did not finish (a killed pod, a rerun the same
day) and must resume it rather than start a second one: the local trainer from its last
checkpoint, the jobs trainer by finding its job through the run's metadata."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class TrainingError(Exception):
    """Training failed; the message is recorded in the run for people to read."""


@dataclass(frozen=True)
class TrainingRequest:
    workspace_id: str
    run: str
    """The run's id within the workspace (its UTC day): with the workspace, the idempotency
    key, and the adapter's name."""
    method: str
    """supervised (chat SFT lines) or dpo (preference lines)."""
    train: bytes
    """JSONL in OpenAI's formats, as stored with the dataset's manifest."""
    validation: bytes
    dataset_sha256: str


@dataclass(frozen=True)
class TrainingResult:
    model_id: str
    """What a chat request names to reach the trained model."""
    details: dict[str, Any] = field(default_factory=dict)
    """Recorded in the run: loss per step, hyperparameters, base revision, job id..."""


Progress = Callable[[dict[str, Any]], Awaitable[None]]
"""Receives what a person watches (step, loss, tokens/s, ETA; a job's status) as it
changes; the pipeline records it in the run and shows it."""


class Trainer(Protocol):
    name: str

    async def train(self, request: TrainingRequest, progress: Progress) -> TrainingResult: ...
