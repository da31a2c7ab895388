"""The search route's answer: passages grouped by file (files best first), each with the
lines that hold a query word and where in the line (code point offsets)."""

from __future__ import annotations

from typing import Any

from assistant.knowledge.passages import _WORD, Passage, Query, split_word

MAX_MATCHES = 20


def _alike(a: str, b: str) -> bool:
    """Equal, or one a stem-like form of the other (the engines stem; ``parse`` found
    ``parsing``): a shared prefix of all but two letters of the shorter, at least three."""
    if a == b:
        return True
    shorter = min(len(a), len(b))
    need = max(3, shorter - 2)
    return shorter >= need and a[:need] == b[:need]


def highlights(line: str, terms: tuple[str, ...]) -> list[list[int]]:
    found: list[list[int]] = []
    for match in _WORD.finditer(line):
        word = split_word(match.group())
        pieces = (word.whole, *word.parts)
        if any(_alike(piece, term) for piece in pieces for term in terms):
            found.append([match.start(), match.end()])
    return found


def grouped(passages: list[Passage], query: Query, files: int) -> list[dict[str, Any]]:
    terms = query.terms
    out: dict[str, dict[str, Any]] = {}
    lines_seen: dict[str, set[int]] = {}
    for passage in passages:
        if passage.file_id not in out:
            if len(out) >= files:
                continue
            out[passage.file_id] = {
                "file_id": passage.file_id,
                "doc_id": passage.doc_id,
                "path": passage.path,
                "score": passage.score,
                "matches": [],
            }
            lines_seen[passage.file_id] = set()
        result, seen = out[passage.file_id], lines_seen[passage.file_id]
        for number, line in enumerate(passage.text.split("\n"), start=passage.start_line):
            if number in seen or len(result["matches"]) >= MAX_MATCHES:
                continue
            marks = highlights(line, terms)
            if marks:
                seen.add(number)
                result["matches"].append({"line": number, "text": line, "highlights": marks})
    for result in out.values():
        result["matches"].sort(key=lambda m: m["line"])
    return list(out.values())
