"""Applying suggestions to the content: find the anchored range, check it still holds the
original text (and that the proposal holds no placeholder where a secret was), replace it.
Runs inside one ``Rooms.edit`` transaction of the content doc, so nobody's edit can land
between the check and the replacement on this replica; the caller serializes accepts per
document across processes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Text

from . import anchors
from .anchors import AnchorError
from .board import sha256
from .placeholders import mentions


class StaleError(Exception):
    """The anchored text no longer equals the original."""


class UnrestorableError(Exception):
    """The proposal holds placeholders that stand for no secret: accepting it would write
    them where the secrets were."""

    def __init__(self, placeholders: list[str]) -> None:
        super().__init__(
            f"the suggestion holds placeholders for secrets that cannot be put back"
            f" ({', '.join(placeholders)}): accepting it would write them into the text"
            " instead of the secrets; reject it and ask again"
        )
        self.placeholders = placeholders


def unrestorable(text: Text, suggestion: dict[str, Any]) -> list[str]:
    """What the worker found it could not put back; for a suggestion no such worker checked
    (``unrestorable`` unset: written before placeholders were put back), any placeholder in
    the proposal that the text itself does not hold."""
    checked = suggestion.get("unrestorable")
    if checked is not None:
        return list(checked)
    found = mentions(suggestion["proposal"])
    if not found:
        return []
    current = str(text)
    return [mention for mention in dict.fromkeys(found) if mention not in current]


def check_restored(doc: Doc, suggestion: dict[str, Any]) -> None:
    """Raises UnrestorableError; changes nothing."""
    found = unrestorable(text_of(doc), suggestion)
    if found:
        raise UnrestorableError(found)


@dataclass(frozen=True)
class Placement:
    start: int
    end: int
    """Code point offsets into the current text."""


def text_of(doc: Doc) -> Text:
    return doc.get(anchors.TEXT_NAME, type=Text)


def locate(text: Text, suggestion: dict[str, Any]) -> Placement:
    """Where the suggestion's original text is now; StaleError when it changed."""
    try:
        start = anchors.resolve(text, suggestion["anchor_start"])
        end = anchors.resolve(text, suggestion["anchor_end"])
    except AnchorError as exc:
        raise StaleError(f"anchors no longer resolve: {exc}") from None
    if end < start:
        raise StaleError("the anchored range was rearranged")
    current = str(text)[start:end]
    if current != suggestion["original"] or sha256(current) != suggestion["original_sha256"]:
        raise StaleError("the text changed since the suggestion was asked for")
    return Placement(start, end)


def replace(text: Text, placement: Placement, new: str) -> None:
    value = str(text)
    start_byte = len(value[: placement.start].encode())
    end_byte = start_byte + len(value[placement.start : placement.end].encode())
    if end_byte > start_byte:
        del text[start_byte:end_byte]
    if new:
        text.insert(start_byte, new)


def accept(doc: Doc, suggestion: dict[str, Any]) -> Placement:
    """Checks, then replaces; raises StaleError (having changed nothing)."""
    text = text_of(doc)
    placement = locate(text, suggestion)
    replace(text, placement, suggestion["proposal"])
    return placement


def _overlaps(a: Placement, b: Placement) -> bool:
    if a.start == a.end or b.start == b.end:  # an insertion touching a range is ambiguous
        return a.start <= b.end and b.start <= a.end
    return a.start < b.end and b.start < a.end


def accept_many(doc: Doc, suggestions: list[dict[str, Any]]) -> dict[str, str]:
    """Accept-all: every suggestion is located first, then applied in document order; one
    whose range overlaps an earlier applied one is skipped, and so is one holding placeholders
    it cannot put back. Returns id -> applied | overlapping | stale | unrestorable.
    Replacements run from the end backwards, so earlier offsets stay valid."""
    text = text_of(doc)
    outcome: dict[str, str] = {}
    placed: list[tuple[Placement, dict[str, Any]]] = []
    for suggestion in suggestions:
        if unrestorable(text, suggestion):
            outcome[suggestion["id"]] = "unrestorable"
            continue
        try:
            placed.append((locate(text, suggestion), suggestion))
        except StaleError:
            outcome[suggestion["id"]] = "stale"
    placed.sort(key=lambda item: (item[0].start, item[0].end))
    chosen: list[tuple[Placement, dict[str, Any]]] = []
    for placement, suggestion in placed:
        if any(_overlaps(placement, other) for other, _ in chosen):
            outcome[suggestion["id"]] = "overlapping"
        else:
            chosen.append((placement, suggestion))
            outcome[suggestion["id"]] = "applied"
    for placement, suggestion in reversed(chosen):
        replace(text, placement, suggestion["proposal"])
    return outcome
