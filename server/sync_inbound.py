"""The inbound side of one ``/sync`` connection: rate limits, decoding, the room, errors.

A message arrives one of two ways (ws_protocol.py): offered in the protocol's own callback
(``receive_now``), or through ASGI's ``receive`` in the connection's task (``read``). Both end
in the same steps. A message is taken now only when nothing of this connection is queued or
being handled before it, and when the room can handle it without waiting: order holds, and a
message once admitted (counted against the limits) is never handed back."""

from __future__ import annotations

import logging

from starlette.types import Receive

from sync import metrics
from sync.peer import CloseCode, Peer
from sync.protocol import Message, ProtocolError, decode
from sync.room import DocTooLargeError, Room
from sync.rooms import Rooms
from sync.store import StoreError

from .rate import InboundRate
from .settings import Settings

log = logging.getLogger(__name__)

_KIND = {
    "SyncStep1": "sync_step1",
    "SyncStep2": "sync_step2",
    "SyncUpdate": "sync_update",
    "AwarenessMessage": "awareness",
    "AuthMessage": "auth",
    "QueryAwareness": "query_awareness",
}


class Inbound:
    def __init__(self, settings: Settings, rooms: Rooms, room: Room, peer: Peer) -> None:
        self._rooms = rooms
        self._room = room
        self._peer = peer
        self._rate = InboundRate(
            settings.ws_max_frames_per_s,
            settings.ws_max_bytes_per_s,
            # A whole message of the largest size allowed always fits.
            burst_bytes=max(settings.ws_max_bytes_per_s, settings.max_message_bytes),
        )
        self._busy = False
        """The task is between taking a message from ``receive`` and being done with it."""

    def receive_now(self, frame: bytes) -> bool:
        """Handle ``frame`` in the caller's step; False, having done nothing, when it must
        wait its turn in ``read``. Never raises: it runs in the server's protocol callback."""
        if self._busy:
            return False
        if not self._peer.open:
            return True  # closing: ignored until the close handshake ends, as in ``read``
        if not self._room.can_handle_now():
            return False
        try:
            message = self._admit(frame)
            if message is not None:
                metrics.HANDLED_AT_ONCE.inc()
                self._handle_now(message)
        except Exception:
            log.exception("handling a frame of peer %s failed", self._peer.id)
            self._peer.close(CloseCode.INTERNAL_ERROR, "internal error")
        return True

    async def read(self, receive: Receive) -> None:
        """Handle messages from ``receive`` until the client goes away. After ``peer.close``
        the loop keeps reading (and ignoring) until the close handshake ends, so the close
        frame reaches the client."""
        peer = self._peer
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            if not peer.open:
                continue
            frame = event.get("bytes")
            if frame is None:
                _refuse(
                    peer, CloseCode.UNSUPPORTED_DATA, "text frames are not part of the protocol"
                )
                continue
            message = self._admit(frame)
            if message is None:
                continue
            metrics.HANDLED_BY_TASK.inc()
            self._busy = True
            try:
                await self._room.handle(peer, message)
            except (ProtocolError, DocTooLargeError, StoreError) as exc:
                self._failed(exc)
            finally:
                self._busy = False

    def _admit(self, frame: bytes) -> Message | None:
        """The message in ``frame``, or None after closing the peer for it."""
        if not self._rate.take(len(frame)):
            metrics.RATE_LIMITED.inc()
            _refuse(self._peer, CloseCode.POLICY_VIOLATION, "sending too fast: rate limit exceeded")
            return None
        try:
            message = decode(frame)
        except ProtocolError as exc:
            _refuse(self._peer, CloseCode.PROTOCOL_ERROR, f"malformed frame: {exc}")
            return None
        metrics.INBOUND.count(_KIND[type(message).__name__], len(frame))
        return message

    def _handle_now(self, message: Message) -> None:
        try:
            handled = self._room.handle_now(self._peer, message)
        except (ProtocolError, DocTooLargeError, StoreError) as exc:
            self._failed(exc)
            return
        assert handled, "can_handle_now promised this message would not wait"

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, ProtocolError):
            _refuse(self._peer, CloseCode.INVALID_PAYLOAD, str(exc))
        elif isinstance(exc, DocTooLargeError):
            _refuse(self._peer, CloseCode.DOC_TOO_LARGE, str(exc))
        else:  # the store failed: the room closed all its peers; forget the room
            self._rooms.drop(self._room, CloseCode.INTERNAL_ERROR, "storage unavailable, reconnect")


def _refuse(peer: Peer, code: int, reason: str) -> None:
    log.info("closing peer %s: %s (%s)", peer.id, reason, code)
    peer.close(code, reason)
