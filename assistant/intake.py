"""The conversation manager: turns a queued job into the prompt that is sent, and says what
was removed on the way (for the records) and what stands for it (for putting it back)."""

from __future__ import annotations

from dataclasses import dataclass

from . import prompt
from .cleansing import cleanse_document_text, cleanse_instruction
from .placeholders import Placeholders
from .secrets import redact
from .types import Job


@dataclass(frozen=True)
class IntakeLimits:
    max_instruction_chars: int = 2_000
    max_selection_chars: int = 20_000
    context_tokens: int = 1_500
    redact_secrets: bool = True
    """Off only for a self-hosted model: then document text reaches it unredacted."""
    min_entropy: float = 3.5


@dataclass(frozen=True)
class Intake:
    messages: list[dict[str, str]]
    analysis: prompt.Analysis
    redactions: dict[str, int]
    placeholders: Placeholders
    """The values behind the prompt's placeholders: the worker's alone, for this job."""


def prepare(job: Job, limits: IntakeLimits, workspace_instructions: str = "") -> Intake:
    instruction = cleanse_instruction(job.instruction, limits.max_instruction_chars)
    selection = cleanse_document_text(job.original, limits.max_selection_chars)
    before, after = prompt.fit_context(
        cleanse_document_text(job.before, limits.context_tokens * 8, keep="end"),
        cleanse_document_text(job.after, limits.context_tokens * 8, keep="start"),
        limits.context_tokens,
    )
    analysis = prompt.analyze(selection or before[-2000:], instruction, job.mode, job.language)
    found: dict[str, int] = {}
    placeholders = Placeholders((instruction, selection, before, after, workspace_instructions))
    if limits.redact_secrets:
        parts = []
        for part in (instruction, selection, before, after, workspace_instructions):
            result = redact(part, min_entropy=limits.min_entropy, placeholders=placeholders)
            for kind, n in result.found.items():
                found[kind] = found.get(kind, 0) + n
            parts.append(result.text)
        instruction, selection, before, after, workspace_instructions = parts
    messages = prompt.build_messages(
        mode=job.mode,
        instruction=instruction,
        selection=selection,
        before=before,
        after=after,
        analysis=analysis,
        workspace_instructions=workspace_instructions,
    )
    return Intake(messages, analysis, found, placeholders)
