"""Who is present in a room: the awareness states its peers announced, and who owns which."""

from __future__ import annotations

import time
from collections.abc import Hashable

from .protocol import AwarenessEntry, encode_awareness

REMOTE = "remote"
"""Owner of entries relayed from other pods: they expire unless renewed, since the pod that
owns the connection is the one that announces its departure, and it may die first."""


class RoomAwareness:
    """Tracks the live awareness entries of a room so that joiners and query-awareness get
    the current presence and a departing connection's entries can be removed for everyone."""

    def __init__(self, remote_timeout_s: float = 30.0) -> None:
        self._entries: dict[int, AwarenessEntry] = {}
        self._owner: dict[int, Hashable] = {}
        self._renewed: dict[int, float] = {}
        self._remote_timeout_s = remote_timeout_s

    def apply(self, owner: Hashable, entries: list[AwarenessEntry]) -> None:
        for entry in entries:
            current = self._entries.get(entry.client_id)
            # As y-protocols does: a state with the same clock is old news, except a removal.
            # Stock clients echo everyone's awareness back; taking the echo as new would hand
            # the entry to the echoing peer, and its real owner's departure would not remove it.
            if current is not None and (
                entry.clock < current.clock or (entry.clock == current.clock and not entry.removed)
            ):
                continue
            if entry.removed:
                self._forget(entry.client_id)
            else:
                self._entries[entry.client_id] = entry
                self._owner[entry.client_id] = owner
                self._renewed[entry.client_id] = time.monotonic()

    def _forget(self, client_id: int) -> None:
        self._entries.pop(client_id, None)
        self._owner.pop(client_id, None)
        self._renewed.pop(client_id, None)

    def remove_owner(self, owner: Hashable) -> bytes | None:
        """Drop every entry ``owner`` announced; returns the removal update to broadcast."""
        gone = [cid for cid, who in self._owner.items() if who == owner]
        if not gone:
            return None
        removals = []
        for cid in gone:
            entry = self._entries[cid]
            self._forget(cid)
            removals.append(AwarenessEntry(cid, entry.clock + 1, "null"))
        return encode_awareness(removals)

    def encode_all(self) -> bytes | None:
        expired = time.monotonic() - self._remote_timeout_s
        for cid in [c for c, who in self._owner.items() if who == REMOTE]:
            if self._renewed[cid] < expired:
                self._forget(cid)
        if not self._entries:
            return None
        return encode_awareness(list(self._entries.values()))
