"""A sync connection's frames on the ASGI server's own send, errors mapped to ConnectionError.

Frames skip Starlette's ``WebSocket.send``: it re-checks its state machine on every frame,
which the peer's own state already guards, and the fan-out sends every frame to every peer.
Where the server offers ``tandem.send_now`` (ws_protocol.py), a frame is framed once for all
peers and written in the caller's turn."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Scope, Send

from sync.types import Frame

from .ws_protocol import SEND_NOW


class AsgiTransport:
    def __init__(self, send: Send, scope: Scope) -> None:
        self._send = send
        extension = (scope.get("extensions") or {}).get(SEND_NOW)
        # The server's own, called straight from the peer: one call less per peer per update.
        self.send_now: Callable[[Frame], bool] = extension["send"] if extension else _never

    async def send(self, frame: bytes) -> None:
        try:
            await self._send({"type": "websocket.send", "bytes": frame})
        except (OSError, RuntimeError) as exc:  # disconnected, or closed already
            raise ConnectionError("websocket is closed") from exc

    async def close(self, code: int, reason: str) -> None:
        try:
            # A close reason must fit in 123 bytes.
            await self._send({"type": "websocket.close", "code": code, "reason": reason[:120]})
        except (OSError, RuntimeError) as exc:
            raise ConnectionError("websocket is closed") from exc


def _never(frame: Frame) -> bool:
    return False
