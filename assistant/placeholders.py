"""Putting secrets back. The model gets a request's secrets as numbered placeholders
(``[REDACTED:aws_access_key#1]``, secrets.py); its answer has the values put back before it is
streamed into the suggestions document, so nobody sees, accepts or learns from a placeholder
where a credential was.

The values stay in the worker's memory for one job (``Placeholders``): never in the
suggestions document, a record or a log. Redacting the same texts again issues the same
placeholders, so a retried job needs nothing stored.

Only a placeholder issued for this request, exactly as issued, is restored; the same one twice
means the same value twice. Anything else that looks like one (never issued, altered, cut off)
is *unrestorable*, unless the request's own text held that very string (a document about
redaction): accepting it would write a placeholder where a secret was, so the suggestion says
so and accept refuses it."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

_REST = r"[ \t]{0,3}:[ \t]{0,3}[^\]\[\s]{0,60}"
MENTION = re.compile(rf"(?:\[[ \t]{{0,3}}(?i:redacted)|\bREDACTED){_REST}\]?")
"""What reads as a placeholder, mangled ones included (``[redacted: aws``, ``REDACTED:jwt#2]``);
a bare lowercase "redacted:" is prose."""


def _prefixes(word: str) -> str:
    return "|".join(re.escape(word[:n]) for n in range(len(word), 0, -1))


# A tail that more text could still turn into a mention: "[", "[RED", "[REDACTED:aws_ac".
_OPEN_REST = r"[ \t]{0,3}(?::[ \t]{0,3}[^\]\[\s]{0,60})?"
_OPEN = re.compile(
    rf"(?:\[[ \t]{{0,3}}(?i:REDACTED{_OPEN_REST}|{_prefixes('REDACTE')})?"
    rf"|\b(?:REDACTED{_OPEN_REST}|{_prefixes('REDACTE')}))\Z"
)
_LONGEST_MENTION = 1 + 3 + len("REDACTED") + 3 + 1 + 3 + 60 + 1


def mentions(text: str) -> list[str]:
    return list(_mentions(text))


@functools.lru_cache(maxsize=2048)
def _mentions(text: str) -> tuple[str, ...]:
    # A thread's earlier turns are scanned for every answer: each text once.
    return tuple(m[0] for m in MENTION.finditer(text))


@dataclass(frozen=True)
class Restoration:
    text: str
    unrestorable: tuple[str, ...] = ()
    """The mentions left in ``text`` that stand for no value, in order, each once."""


class Placeholders:
    """The numbered placeholders of one request and the values behind them (``redact``'s
    issuer). ``texts``: everything the request sends, before redaction; placeholder-like text
    already in it is passed through as it is and never issued to stand for a secret."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._values: dict[str, str] = {}
        self._issued: dict[tuple[str, str], str] = {}
        self._numbers: dict[str, int] = {}
        self._literal = {mention for text in texts for mention in mentions(text)}

    def issue(self, kind: str, value: str) -> str:
        # A span that took in an earlier placeholder (a password that is a key) keeps the value.
        value = self._fill(value)
        placeholder = self._issued.get((kind, value))
        if placeholder is None:
            while placeholder is None or placeholder in self._literal:
                self._numbers[kind] = number = self._numbers.get(kind, 0) + 1
                placeholder = f"[REDACTED:{kind}#{number}]"
            self._issued[(kind, value)] = placeholder
            self._values[placeholder] = value
        return placeholder

    def _fill(self, text: str) -> str:
        return MENTION.sub(lambda m: self._values.get(m[0], m[0]), text)

    def restore(self, text: str) -> Restoration:
        unrestorable: list[str] = []

        def put_back(match: re.Match[str]) -> str:
            mention = match[0]
            value = self._values.get(mention)
            if value is not None:
                return value
            if mention not in self._literal and mention not in unrestorable:
                unrestorable.append(mention)
            return mention

        return Restoration(MENTION.sub(put_back, text), tuple(unrestorable))

    def stream(self) -> Restorer:
        return Restorer(self)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<Placeholders: {len(self._values)} issued>"  # never the values


class Restorer:
    """Restores a stream piece by piece. A placeholder can arrive split across pieces
    (``[REDAC`` + ``TED:jwt#1]``): a tail that could still become one is held back until the
    next piece decides it (at most a placeholder's length), or until ``close``."""

    def __init__(self, placeholders: Placeholders) -> None:
        self._placeholders = placeholders
        self._held = ""
        self._parts: list[str] = []
        self.unrestorable: list[str] = []

    def feed(self, piece: str) -> str:
        """The text that can be shown now, restored ("" while all of it is held back)."""
        text = self._held + piece
        opening = _OPEN.search(text, max(0, len(text) - _LONGEST_MENTION))
        cut = len(text) if opening is None else opening.start()
        self._held = text[cut:]
        return self._restore(text[:cut])

    def close(self) -> str:
        """The held-back rest, at the end of the stream."""
        text, self._held = self._held, ""
        return self._restore(text)

    @property
    def text(self) -> str:
        """Everything restored so far."""
        return "".join(self._parts)

    def _restore(self, text: str) -> str:
        if not text:
            return ""
        restored = self._placeholders.restore(text)
        for mention in restored.unrestorable:
            if mention not in self.unrestorable:
                self.unrestorable.append(mention)
        self._parts.append(restored.text)
        return restored.text
