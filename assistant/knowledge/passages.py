"""What the index stores and returns: line-ranged passages of a workspace's text files, and
the queries it is asked."""

from __future__ import annotations

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
