"""The port for awareness between processes (cluster mode). Best effort by design: awareness
stays off the durable path, and clients renew their state every 15 s, which heals a loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .types import DocId, Origin

ASK_FOR_PRESENCE = b""
"""The payload a pod publishes when it starts watching a document: the pods that hold it
answer with their connections' states, so a joiner there sees everyone within a moment.
(An awareness update is never empty.)"""

PresenceListener = Callable[[DocId, Origin, bytes], None]
"""Called with an awareness update that another process (``Origin``, its pod id) relayed
for a watched document: the ids it announces belong to that pod."""


class PresenceBus(Protocol):
    def listen(self, listener: PresenceListener) -> None: ...

    def publish(self, doc_id: DocId, payload: bytes) -> None:
        """Queue an awareness update for the other processes; never blocks."""
        ...

    async def watch(self, doc_id: DocId) -> None:
        """Subscribe to the document's presence and ask the other pods for theirs
        (``ASK_FOR_PRESENCE`` reaches their listeners)."""
        ...

    async def unwatch(self, doc_id: DocId) -> None: ...
