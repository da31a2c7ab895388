"""Who is present in a room: the awareness states its peers announced, and who owns which."""

from __future__ import annotations

from collections.abc import Hashable

from .protocol import AwarenessEntry, encode_awareness


class RoomAwareness:
    """Tracks the live awareness entries of a room so that joiners and query-awareness get
    the current presence and a departing connection's entries can be removed for everyone."""

    def __init__(self) -> None:
        self._entries: dict[int, AwarenessEntry] = {}
        self._owner: dict[int, Hashable] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def apply(self, owner: Hashable, entries: list[AwarenessEntry]) -> None:
        for entry in entries:
            current = self._entries.get(entry.client_id)
            if current is not None and entry.clock < current.clock:
                continue
            if entry.removed:
                self._entries.pop(entry.client_id, None)
                self._owner.pop(entry.client_id, None)
            else:
                self._entries[entry.client_id] = entry
                self._owner[entry.client_id] = owner

    def remove_owner(self, owner: Hashable) -> bytes | None:
        """Drop every entry ``owner`` announced; returns the removal update to broadcast."""
        gone = [cid for cid, who in self._owner.items() if who == owner]
        if not gone:
            return None
        removals = []
        for cid in gone:
            entry = self._entries.pop(cid)
            del self._owner[cid]
            removals.append(AwarenessEntry(cid, entry.clock + 1, "null"))
        return encode_awareness(removals)

    def encode_all(self) -> bytes | None:
        if not self._entries:
            return None
        return encode_awareness(list(self._entries.values()))
