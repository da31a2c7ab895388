"""Outcomes: what happened to a suggestion's text after the decision, read from the document
once it has settled. Labels come from here, not from the click (LESSONS: an accept that was
then reverted is no positive example).

The suggestion's anchors (``anchor_start``, ``anchor_end`` in the suggestions document) keep
following the text: after an accept the start anchor (the first replaced character, now
deleted) resolves to where the proposal begins and the end anchor (the first character after
the range) to where it ends, so the text between them is what became of the proposal. A
suggestion made at a cursor (empty original) has both anchors after the insertion; there the
proposal's own length, counted back from the end anchor, is the best guess we have."""

from __future__ import annotations

import difflib
import time
from typing import Any

from pycrdt import Text

from assistant import anchors
from assistant.anchors import AnchorError

from .store import Outcome, OutcomeKind


def similarity(a: str, b: str) -> float:
    """difflib's ratio (0..1); cheap enough for the lengths a suggestion has."""
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def current_range(text: Text, suggestion: dict[str, Any]) -> str:
    """The text now between the suggestion's anchors; AnchorError when they no longer
    resolve into this text."""
    start = anchors.resolve(text, suggestion["anchor_start"])
    end = anchors.resolve(text, suggestion["anchor_end"])
    value = str(text)
    if end < start:
        raise AnchorError("the anchored range was rearranged")
    if start == end and not suggestion.get("original") and suggestion.get("status") == "accepted":
        start = max(0, end - len(suggestion.get("proposal") or ""))
    return value[start:end]


def outcome_of(
    record: dict[str, Any], suggestion: dict[str, Any], text: Text, *, now: float | None = None
) -> Outcome | None:
    """The outcome of one decided suggestion, or None when its status has none (pending,
    failed, stale, cancelled). ``record`` is the assistant's record (prompt, output, who),
    ``suggestion`` the entry in the suggestions document (anchors, proposal, status)."""
    status = record.get("status") or suggestion.get("status")
    if status not in ("accepted", "rejected") or record.get("mode") == "explain":
        return None  # an explanation is read, never applied: its text tells nothing
    original = record.get("original") or suggestion.get("original") or ""
    proposal = suggestion.get("proposal") or record.get("output") or ""
    base: Outcome = {
        "suggestion_id": record["id"],
        "workspace_id": record["workspace_id"],
        "doc_id": record["doc_id"],
        "user_id": record.get("user_id"),
        "decided_by": record.get("decided_by"),
        "decided_at": float(record.get("decided_at") or 0.0),
        "status": status,
        "mode": record.get("mode"),
        "model": record.get("model"),
        "prompt": record.get("prompt"),
        "answer": record.get("answer"),
        "original": original,
        "proposal": proposal,
        "computed_at": time.time() if now is None else now,
    }
    try:
        current = current_range(text, {**suggestion, "status": status, "proposal": proposal})
    except AnchorError:
        return {**base, "kind": OutcomeKind.GONE.value, "similarity": None, "final_text": None}
    score = similarity(current, proposal)
    if status == "accepted":
        kind = _accepted_kind(current, original, proposal)
    elif current == original:
        kind = OutcomeKind.UNCHANGED
    elif not current:
        kind = OutcomeKind.GONE  # deleted after the rejection: nothing to learn from
    else:
        kind = OutcomeKind.REWRITTEN
    return {**base, "kind": kind.value, "similarity": round(score, 4), "final_text": current}


def _accepted_kind(current: str, original: str, proposal: str) -> OutcomeKind:
    if current == proposal:
        return OutcomeKind.KEPT
    if not current:
        return OutcomeKind.REVERTED  # the accepted text was deleted again
    # Put back means the original itself (white space aside). Text merely near it is a
    # person's own correction: a one-letter fix of a typo is as close to the original as
    # an undo, and it is the best label there is.
    if _words(current) == _words(original):
        return OutcomeKind.REVERTED
    return OutcomeKind.EDITED


def _words(text: str) -> str:
    return " ".join(text.split())
