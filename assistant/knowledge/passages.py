"""What the index stores and returns: line-ranged passages of a workspace's text files, and
the queries it is asked."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Passage:
    """Lines ``start_line``..``end_line`` (1-based, inclusive) of the file at ``path``;
    ``score``: the index's relevance, higher is better, comparable within one search only."""

    file_id: str
    doc_id: str
    path: str
    start_line: int
    end_line: int
    text: str
    score: float = 0.0


@dataclass(frozen=True)
class Word:
    """One word of a query: ``whole`` lowercased with underscores dropped, and the parts of
    an identifier (``parse_config``, ``parseConfig`` -> ``parse``, ``config``) when it has
    several; only letters and digits, so it can never be the engine's query syntax."""

    whole: str
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    """``match_all``: a passage must hold every word (the search box); otherwise any of
    them, best ranked first (a question, whose stop words were dropped)."""

    words: tuple[Word, ...]
    match_all: bool = False

    @property
    def terms(self) -> tuple[str, ...]:
        """Every distinct term, wholes and parts, in order."""
        seen: dict[str, None] = {}
        for word in self.words:
            seen.setdefault(word.whole)
            for part in word.parts:
                seen.setdefault(part)
        return tuple(seen)


PASSAGE_LINES = 40
PASSAGE_OVERLAP = 10
PASSAGE_CHARS = 4_000
"""A passage ends at this many characters too (a single longer line stays whole)."""
MAX_WORDS = 32
MAX_TERM_CHARS = 64

_WORD = re.compile(r"[^\W_]+(?:_+[^\W_]+)*", re.UNICODE)
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\W\d_A-Za-z]+")

STOP_WORDS = frozenset(
    """a an and are as at be by can could did do does for from had has have how i if in into
    is it its me my of on or our should so that the their them then there these this those to
    was we were what when where which who why will with would you your please tell show find
    explain about any some""".split()  # noqa: SIM905 - a list a reader can scan
)


def split_word(token: str) -> Word:
    """``parse_config`` / ``parseConfig`` -> whole ``parseconfig``, parts ``parse config``."""
    parts = tuple(
        p.lower()[:MAX_TERM_CHARS] for piece in token.split("_") for p in _CAMEL.findall(piece)
    )
    whole = token.replace("_", "").lower()[:MAX_TERM_CHARS]
    return Word(whole, parts if len(parts) > 1 else ())


def words(text: str) -> list[Word]:
    return [split_word(match.group()) for match in _WORD.finditer(text)]


def terms_of(text: str) -> str:
    """What the engine indexes for ``text``: each word whole, then its parts, space separated,
    so an identifier is found by itself and by each part of it."""
    out: list[str] = []
    for word in words(text):
        out.append(word.whole)
        out.extend(word.parts)
    return " ".join(out)


def _query(text: str, *, question: bool) -> Query:
    seen: dict[str, Word] = {}
    for word in words(text):
        if question and (word.whole in STOP_WORDS or len(word.whole) < 2):
            continue
        seen.setdefault(word.whole, word)
        if len(seen) >= MAX_WORDS:
            break
    return Query(tuple(seen.values()), match_all=not question)


def question_query(text: str) -> Query:
    """A question (the assistant's retrieval): any of its words, stop words dropped."""
    return _query(text, question=True)


def search_query(text: str) -> Query:
    """What a person typed in the search box: every word must be in the passage."""
    return _query(text, question=False)


@dataclass(frozen=True)
class Span:
    start_line: int
    end_line: int
    text: str


def split_passages(
    text: str,
    *,
    lines: int = PASSAGE_LINES,
    overlap: int = PASSAGE_OVERLAP,
    chars: int = PASSAGE_CHARS,
) -> list[Span]:
    """Windows of ``lines`` lines (fewer when ``chars`` is reached), each starting ``overlap``
    lines before the last one ended, so a match near a border is whole in one of them.
    Lines are split at ``\\n`` only, as the editor counts them; blank windows are left out."""
    all_lines = text.split("\n")
    if all_lines and all_lines[-1] == "":
        all_lines.pop()
    spans: list[Span] = []
    start = 0
    while start < len(all_lines):
        end, size = start, 0
        while end < len(all_lines) and end - start < lines:
            size += len(all_lines[end]) + 1
            end += 1
            if size >= chars:
                break
        body = "\n".join(all_lines[start:end])
        if body.strip():
            spans.append(Span(start + 1, end, body))
        if end >= len(all_lines):
            break
        start = max(start + 1, end - overlap)
    return spans
