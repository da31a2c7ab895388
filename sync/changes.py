"""What one applied update changed, in Yjs units, from the transaction's state vectors and
delete set: items inserted (for text, UTF-16 code units) and items deleted. Cheap enough to run
per update; the server's edit history counts with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .protocol import ProtocolError, _Reader
from .types import DocId, Update

if TYPE_CHECKING:
    from .peer import Peer


@dataclass(frozen=True, slots=True)
class AppliedUpdate:
    """A client's update, after it was durably appended."""

    doc_id: DocId
    peer: Peer
    update: Update
    inserted: int
    deleted: int


def _state_vector(data: bytes) -> dict[int, int]:
    reader = _Reader(data)
    return {reader.varuint(): reader.varuint() for _ in range(reader.varuint())}


def _deleted(data: bytes) -> int:
    reader = _Reader(data)
    total = 0
    for _ in range(reader.varuint()):
        reader.varuint()  # client
        for _ in range(reader.varuint()):
            reader.varuint()  # clock
            total += reader.varuint()
    return total


def change_size(before: bytes, after: bytes, delete_set: bytes) -> tuple[int, int]:
    """(inserted, deleted); (0, 0) for bytes that do not decode, which only costs a count."""
    try:
        old = _state_vector(before)
        inserted = sum(clock - old.get(client, 0) for client, clock in _state_vector(after).items())
        return max(0, inserted), _deleted(delete_set)
    except ProtocolError:
        return 0, 0
