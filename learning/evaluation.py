"""The evaluation gate: replay held-out examples through the candidate and the current model,
score each answer by its similarity to the text people kept, and zero for an answer whose
format is wrong (empty, fenced when the kept text is not, chatty preamble, far too long).
The candidate is promoted only when its mean score beats the current model's.

The answers come through the serving path the assistant uses (the same client, the same
endpoint; the server wires an ``Answerer`` over it), so the gate judges what people get."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Protocol

from .outcomes import similarity

_PREAMBLE = re.compile(r"(?i)^\s*(?:sure|certainly|of course|here(?:'s| is| are))\b")
_FENCE = "```"


class AnswerError(Exception):
    """The serving path gave no answer (unknown model, timeout, error)."""


class Answerer(Protocol):
    async def complete(self, model: str, messages: list[dict[str, str]]) -> str:
        """The model's whole answer, greedy. Raises AnswerError."""
        ...


def format_valid(output: str, target: str) -> bool:
    if not output.strip():
        return False
    if _FENCE in output and _FENCE not in target:
        return False
    if _PREAMBLE.match(output) and not _PREAMBLE.match(target):
        return False
    return len(output) <= 3 * len(target) + 200


def score(output: str, target: str) -> float:
    return similarity(output, target) if format_valid(output, target) else 0.0


@dataclass(frozen=True)
class Scores:
    model: str
    mean: float
    valid: float
    """Share of answers with a valid format."""
    count: int
    errors: int

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "model": self.model,
            "mean": round(self.mean, 4),
            "valid": round(self.valid, 4),
            "count": self.count,
            "errors": self.errors,
        }


HeldOut = list[tuple[list[dict[str, str]], str]]
"""(prompt messages, the text people kept) pairs."""


async def evaluate(
    answerer: Answerer, model: str, examples: HeldOut, *, concurrency: int = 4
) -> Scores:
    """A failed call scores zero: a model that cannot answer is no better."""
    limit = asyncio.Semaphore(concurrency)
    errors = 0

    async def one(prompt: list[dict[str, str]], target: str) -> tuple[float, bool]:
        nonlocal errors
        async with limit:
            try:
                output = await answerer.complete(model, prompt)
            except AnswerError:
                errors += 1
                return 0.0, False
        return score(output, target), format_valid(output, target)

    results = await asyncio.gather(*(one(p, t) for p, t in examples))
    count = len(results)
    if count == 0:
        return Scores(model, 0.0, 0.0, 0, 0)
    return Scores(
        model,
        sum(s for s, _ in results) / count,
        sum(1 for _, v in results if v) / count,
        count,
        errors,
    )
