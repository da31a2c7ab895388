"""uvicorn's websockets-sansio protocol plus two ASGI extensions of ours, for the sync path.

``tandem.send_now``. The fan-out sends each update to every other peer of a document. Through
ASGI's ``websocket.send`` every peer frames the same payload again, and sends it from its
writer task a turn of the loop later (about 200 us under load, measured). Frames a server
sends are never masked, so one framing serves every peer: ``send_now`` takes the payload of
one binary message, frames it (once for all the peers a broadcast hands the same payload to)
and writes it in the caller's turn. It says no (False) whenever writing now would not be what
``websocket.send`` does: the connection is not open, is closing, negotiated an extension
(permessage-deflate transforms every frame), or its transport is applying backpressure. The
caller then falls back to ``websocket.send``.

``tandem.receive_now``. Through ASGI's ``receive`` every message is put on a queue, reading
pauses, the app's task wakes a turn later, takes it and resumes reading: two changes to the
poller and a task switch per message. The app may instead register a receiver, which is
offered each binary message in ``data_received`` itself, as long as nothing is queued ahead
of it (order). The receiver handles the message there and says True, or says False having
done nothing, and the message takes the queue as before. Text messages, closes and
everything after a close always take the queue.

Reading frames. websockets' parser is general: a generator per frame, a frame object, the
reader's buffer copied twice. Once the handshake is done, this protocol finds where each frame
ends itself (``ws_frames``) and takes a whole, masked binary message straight to the
receiver. Every other frame (ping, pong, close, text, a fragment, anything malformed) is given
to websockets whole, so its parser is always at a frame boundary when a frame passes it by, and
it answers, fails or closes the connection as it always does. A frame longer than websockets
allows, a negotiated extension, or any state but OPEN hands the connection's bytes to
websockets for good."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import apply_mask
from websockets.http11 import Request
from websockets.protocol import Protocol, State

from .ws_frames import LastFraming, is_masked_binary, payload_span

SEND_NOW = "tandem.send_now"
"""The scope extension's name; its value is ``{"send": callable(bytes) -> bool}``, which
sends its argument as one binary message now, or says False having done nothing."""

RECEIVE_NOW = "tandem.receive_now"
"""The scope extension's name; its value is ``{"set": callable(Receiver | None)}``."""

Receiver = Callable[[bytes], bool]
"""Handles one binary message in the protocol's callback; must not raise."""


class _Reading(Enum):
    HANDSHAKE = "handshake"
    FRAMES = "frames"
    """Frames are found here; websockets parses only those given to it, whole."""
    WEBSOCKETS = "websockets"
    """Every byte goes to websockets, to the connection's end."""


class SyncWebSocketProtocol(WebSocketsSansIOProtocol):
    _receiver: Receiver | None = None
    _reading = _Reading.HANDSHAKE
    _partial: bytearray | None = None
    """The start of a frame whose end has not arrived yet."""
    _awaited = 0
    """How long ``_partial`` must grow for its frame to be whole, once its header is in."""
    _frame_limit = 0
    _write_paused = False

    def data_received(self, data: bytes) -> None:
        if self._reading is _Reading.FRAMES:
            self._frames_received(data)
            return
        if self._reading is _Reading.HANDSHAKE and self.handshake_initiated:
            conn = self.conn
            # Bytes websockets holds, or that came before the handshake was done, may be part
            # of a frame it has begun to parse: then it parses all that follows too.
            if conn.state is State.OPEN and not conn.reader.buffer and not conn.extensions:
                self._reading = _Reading.FRAMES
                # websockets' server parser keeps the handshake's request, headers and all,
                # in its frame while it goes on to parse frames (about 2 KiB of every idle
                # connection). At a frame boundary with nothing buffered, a fresh frame parser
                # is where that one stands: it takes over, and the request goes.
                conn.parser = Protocol.parse(conn)
                next(conn.parser)
                limits = (conn.max_message_size, conn.max_fragment_size)
                self._frame_limit = min(
                    (limit for limit in limits if limit is not None), default=1 << 63
                )
                self._frames_received(data)
                return
            self._reading = _Reading.WEBSOCKETS
        super().data_received(data)

    def _frames_received(self, data: bytes) -> None:
        if self._partial is not None:
            # A large message arrives in many reads: grow one buffer, parse once it is whole.
            self._partial += data
            if len(self._partial) < self._awaited:
                return
            data, self._partial = bytes(self._partial), None
        at, size = 0, len(data)
        awaited = 0
        while at < size:
            span = payload_span(data, at)
            if span is None:
                break
            start, length = span
            if length > self._frame_limit or self.conn.state is not State.OPEN:
                self._reading = _Reading.WEBSOCKETS
                super().data_received(data[at:])
                return
            end = start + length
            if end > size:
                awaited = end - at
                break
            if is_masked_binary(data, at) and self.conn.current_size is None:
                self.curr_msg_data_type = "bytes"
                self.frames = [apply_mask(data[start:end], data[start - 4 : start])]
                self.send_receive_event_to_app()
            else:
                super().data_received(data[at:end])
            at = end
        if at < size:
            self._partial = bytearray(data[at:])
            self._awaited = awaited

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The app's task is created above but has not run yet: the scope it gets has this.
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SEND_NOW] = {"send": self.send_now}
            scope["extensions"][RECEIVE_NOW] = {"set": self.set_receiver}

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and self.request is not None:
            # uvicorn reads the handshake's request and response only to answer it, and then
            # holds both, headers and all, for the connection's life: about 3.5 KiB of each
            # idle connection's memory, let go here.
            self.request = self.response = None  # type: ignore[assignment]

    def send_now(self, payload: bytes) -> bool:
        """Write ``payload`` as one binary frame now, if the connection takes it as is."""
        if (
            self._write_paused
            or self.close_sent
            or self.conn.state is not State.OPEN
            or self.conn.extensions
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(_framing.wire(payload))
        return True

    def pause_writing(self) -> None:
        self._write_paused = True  # read on every send_now: a plain flag, not Event.is_set()
        super().pause_writing()

    def resume_writing(self) -> None:
        self._write_paused = False
        super().resume_writing()

    def set_receiver(self, receiver: Receiver | None) -> None:
        self._receiver = receiver

    def send_receive_event_to_app(self) -> None:
        receiver = self._receiver
        if (
            receiver is not None
            and self.curr_msg_data_type == "bytes"
            and not self.close_sent
            and self.queue.empty()
        ):
            frames = self.frames
            data = frames[0] if len(frames) == 1 else b"".join(frames)
            if receiver(bytes(data)):
                self.frames = []
                return
        super().send_receive_event_to_app()


_framing = LastFraming()
