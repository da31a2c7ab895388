"""A pycrdt document that records each edit as the update a client would send."""

from __future__ import annotations

from pycrdt import Doc, Text


class Typist:
    def __init__(self) -> None:
        self.doc = Doc()
        self.text = self.doc.get("content", type=Text)
        self.updates: list[bytes] = []
        self.doc.observe(lambda event: self.updates.append(event.update))

    def type(self, chunk: str) -> bytes:
        """Append ``chunk`` and return the update that carries it."""
        self.text.insert(len(self.text), chunk)
        return self.updates[-1]


def rebuild(updates: list[bytes]) -> str:
    """The text a fresh document holds after applying ``updates`` in order."""
    doc = Doc()
    for update in updates:
        doc.apply_update(update)
    return str(doc.get("content", type=Text))
