"""Datasets from outcomes: chat SFT (the text people kept, or corrected the proposal into) and
preference pairs (the human text preferred over the proposal), in OpenAI's JSONL formats,
which other providers accept too.

On the way: secrets scrubbed again with the assistant's own redaction (the prompt was redacted
when sent, unless redaction was off for a self-hosted model; the human text never was),
duplicates dropped, each member capped so nobody steers the model alone, examples over the
length limit dropped, and a split into train and validation by document (so no document's
text is on both sides) or, with a single document, by time."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from assistant.secrets import redact

from .store import Outcome, OutcomeKind

SFT_KINDS = (
    OutcomeKind.KEPT,
    OutcomeKind.EDITED,
    OutcomeKind.REWRITTEN,
    OutcomeKind.APPROVED,
    OutcomeKind.PREFERRED,
    OutcomeKind.DISLIKED,  # its preferred side is an answer a member approved or preferred
)
PREFERENCE_KINDS = (
    OutcomeKind.EDITED,
    OutcomeKind.REWRITTEN,
    OutcomeKind.REVERTED,
    OutcomeKind.PREFERRED,
    OutcomeKind.DISLIKED,
)
LABELLED_KINDS = frozenset((*SFT_KINDS, *PREFERENCE_KINDS))
"""Outcomes a dataset can use; the others (unchanged, gone) hold no text people preferred."""
_ROLES = ("system", "user", "assistant")
_SFT = {k.value for k in SFT_KINDS}


class DatasetError(ValueError):
    """A line does not have the provider's format."""


@dataclass(frozen=True)
class DatasetLimits:
    max_per_user: int = 200
    max_example_chars: int = 32_000
    validation_fraction: float = 0.2


@dataclass
class Example:
    """One labelled example: the prompt as sent, the human-approved answer, and the proposal."""

    suggestion_id: str
    doc_id: str
    user_id: str
    decided_at: float
    kind: str
    prompt: list[dict[str, str]]
    preferred: str
    proposal: str

    def sft_line(self) -> dict[str, Any]:
        return {"messages": [*self.prompt, {"role": "assistant", "content": self.preferred}]}

    def preference_line(self) -> dict[str, Any]:
        return {
            "input": {"messages": self.prompt},
            "preferred_output": [{"role": "assistant", "content": self.preferred}],
            "non_preferred_output": [{"role": "assistant", "content": self.proposal}],
        }


@dataclass
class Dataset:
    train: list[Example]
    validation: list[Example]
    filters: Counter[str] = field(default_factory=Counter)
    """Why examples were left out: {reason: count}."""
    redactions: Counter[str] = field(default_factory=Counter)

    def files(self) -> dict[str, bytes]:
        """Object name -> JSONL bytes."""
        return {
            "sft-train": jsonl(_once(e.sft_line() for e in self.train if e.kind in _SFT)),
            "sft-validation": jsonl(_once(e.sft_line() for e in self.validation if e.kind in _SFT)),
            "preference-train": jsonl(
                e.preference_line() for e in self.train if e.preferred != e.proposal
            ),
            "preference-validation": jsonl(
                e.preference_line() for e in self.validation if e.preferred != e.proposal
            ),
        }


def _once(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    kept = []
    for line in lines:
        key = json.dumps(line, sort_keys=True)
        if key not in seen:
            seen.add(key)
            kept.append(line)
    return kept


def jsonl(lines: Any) -> bytes:
    return b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def labelled(outcome: Outcome) -> bool:
    """Counts toward the minimum of new examples: an outcome a dataset can use."""
    return _kind(outcome) in LABELLED_KINDS and bool(outcome.get("prompt"))


def _kind(outcome: Outcome) -> OutcomeKind | None:
    try:
        return OutcomeKind(outcome.get("kind"))
    except ValueError:
        return None


def _scrub(text: str, found: Counter[str]) -> str:
    result = redact(text)
    found.update(result.found)
    return result.text


def example_of(outcome: Outcome, redactions: Counter[str]) -> Example | None:
    kind = _kind(outcome)
    prompt = outcome.get("prompt")
    if kind not in LABELLED_KINDS or not isinstance(prompt, list) or not prompt:
        return None
    if kind in (OutcomeKind.REVERTED,):
        preferred = outcome.get("original") or ""
    else:
        preferred = outcome.get("final_text") if kind is not OutcomeKind.KEPT else None
        preferred = outcome.get("proposal") if preferred is None else preferred
    proposal = str(outcome.get("proposal") or "")
    answer = outcome.get("answer")
    if isinstance(answer, str) and preferred:
        # A suggestion applied from a thread's answer: the model wrote the whole answer, so
        # the label is the answer with the block as people left it in the file.
        corrected = _corrected_answer(answer, proposal, str(preferred), kind)
        if corrected is None:
            return None
        preferred, proposal = corrected, answer
    if not preferred:
        return None
    messages = [
        {"role": str(m.get("role")), "content": _scrub(str(m.get("content") or ""), redactions)}
        for m in prompt
        if isinstance(m, dict)
    ]
    return Example(
        suggestion_id=str(outcome["suggestion_id"]),
        doc_id=str(outcome.get("doc_id") or ""),
        user_id=str(outcome.get("user_id") or ""),
        decided_at=float(outcome.get("decided_at") or 0.0),
        kind=kind.value,
        prompt=messages,
        preferred=_scrub(str(preferred), redactions),
        proposal=_scrub(proposal, redactions),
    )


def _corrected_answer(answer: str, block: str, final: str, kind: OutcomeKind) -> str | None:
    """The answer with its applied block replaced by the text people kept; None when the
    block is not found in it, or was reverted (no better answer is known then)."""
    if kind is OutcomeKind.REVERTED:
        return None
    for old, new in ((block, final), (block.rstrip("\n"), final.rstrip("\n"))):
        if old and old in answer:
            return answer.replace(old, new, 1)
    return None


def build(outcomes: list[Outcome], limits: DatasetLimits) -> Dataset:
    filters: Counter[str] = Counter()
    redactions: Counter[str] = Counter()
    seen: set[str] = set()
    per_user: Counter[str] = Counter()
    chosen: list[Example] = []
    # Newest first, so the cap per member keeps their most recent judgement.
    for outcome in sorted(outcomes, key=lambda o: o.get("decided_at") or 0.0, reverse=True):
        example = example_of(outcome, redactions)
        if example is None:
            filters["unlabelled"] += 1
            continue
        if example.kind == OutcomeKind.REVERTED and example.preferred == example.proposal:
            filters["unlabelled"] += 1
            continue
        # The pair, not the preferred text alone: an answer one member approved and another
        # preferred over a second answer is one SFT line (``files`` drops the repeat) but
        # also a preference pair.
        key = sha256(json.dumps([example.prompt, example.preferred, example.proposal]).encode())
        if key in seen:
            filters["duplicate"] += 1
            continue
        seen.add(key)
        if _chars(example) > limits.max_example_chars:
            filters["too_long"] += 1
            continue
        try:
            validate_sft(example.sft_line())
        except DatasetError:
            filters["invalid"] += 1
            continue
        if per_user[example.user_id] >= limits.max_per_user:
            filters["user_cap"] += 1
            continue
        per_user[example.user_id] += 1
        chosen.append(example)
    chosen.sort(key=lambda e: (e.decided_at, e.suggestion_id))
    train, validation = split(chosen, limits.validation_fraction)
    return Dataset(train, validation, filters, redactions)


def _chars(example: Example) -> int:
    return sum(len(m["content"]) for m in example.prompt) + len(example.preferred)


def split(examples: list[Example], fraction: float) -> tuple[list[Example], list[Example]]:
    """By document when there are several (whole documents go to validation, chosen by a
    stable hash, until the fraction is reached); by time otherwise (the newest go)."""
    if len(examples) < 2 or fraction <= 0:
        return list(examples), []
    want = max(1, round(len(examples) * fraction))
    docs = sorted({e.doc_id for e in examples}, key=lambda d: sha256(d.encode()))
    if len(docs) >= 2:
        held: set[str] = set()
        count = 0
        for doc in docs:
            size = sum(1 for e in examples if e.doc_id == doc)
            if count >= want or count + size >= len(examples):
                continue
            held.add(doc)
            count += size
        return (
            [e for e in examples if e.doc_id not in held],
            [e for e in examples if e.doc_id in held],
        )
    return examples[:-want], examples[-want:]


def validate_sft(line: dict[str, Any]) -> None:
    messages = line.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        raise DatasetError("a chat example needs a list of at least two messages")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise DatasetError(f"bad message {message!r}")
        if not isinstance(message.get("content"), str) or not message["content"].strip():
            raise DatasetError("every message needs non-empty text")
    if messages[-1]["role"] != "assistant":
        raise DatasetError("the last message must be the assistant's")


def validate_preference(line: dict[str, Any]) -> None:
    validate_sft({"messages": [*line["input"]["messages"], *line["preferred_output"]]})
    validate_sft({"messages": [*line["input"]["messages"], *line["non_preferred_output"]]})


def validate_file(name: str, data: bytes) -> int:
    """Checks every line of a produced file; returns the number of lines."""
    check = validate_preference if name.startswith("preference") else validate_sft
    count = 0
    for raw in data.splitlines():
        try:
            check(json.loads(raw))
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{name}: line {count + 1}: {exc}") from exc
        count += 1
    return count
