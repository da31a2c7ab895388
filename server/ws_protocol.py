"""uvicorn's websockets-sansio protocol plus one ASGI extension: ``tandem.send_now``.

The fan-out sends each update to every other peer of a document. Through ASGI's
``websocket.send`` every peer frames the same payload again, and sends it from its writer task
a turn of the loop later (about 200 us under load, measured). Frames a server sends are never
masked, so one framing serves every peer: ``send_now`` takes a frame already framed for the
wire and writes it in the caller's turn. It says no (False) whenever writing now would not be
what ``websocket.send`` does: the connection is not open, is closing, negotiated an extension
(permessage-deflate transforms every frame), or its transport is applying backpressure. The
caller then falls back to ``websocket.send``."""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

SEND_NOW = "tandem.send_now"
"""The scope extension's name; its value is ``{"send": callable(bytes) -> bool}``."""


class SyncWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The app's task is created above but has not run yet: the scope it gets has this.
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SEND_NOW] = {"send": self.send_now}

    def send_now(self, wire: bytes) -> bool:
        """Write one complete, unmasked frame now if the connection takes it as is."""
        if (
            self.close_sent
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            or self.conn.extensions
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(wire)
        return True
