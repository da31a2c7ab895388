"""A sync connection's frames on the ASGI server's own send, errors mapped to ConnectionError.

Frames skip Starlette's ``WebSocket.send``: it re-checks its state machine on every frame,
which the peer's own state already guards, and the fan-out sends every frame to every peer.
Where the server offers ``tandem.send_now`` (ws_protocol.py), a frame is framed once for all
peers and written in the caller's turn."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Scope, Send

from .ws_frames import binary_frame
from .ws_protocol import SEND_NOW


class _LastFraming:
    """The wire bytes of the last payload framed. A broadcast hands the same payload object
    to each peer in turn, so everyone after the first reuses its framing."""

    def __init__(self) -> None:
        self._payload: bytes | None = None
        self._wire = b""

    def wire(self, payload: bytes) -> bytes:
        if payload is not self._payload:
            self._wire = binary_frame(payload)
            self._payload = payload
        return self._wire


_framing = _LastFraming()


class AsgiTransport:
    def __init__(self, send: Send, scope: Scope) -> None:
        self._send = send
        extension = (scope.get("extensions") or {}).get(SEND_NOW)
        self._write_now: Callable[[bytes], bool] | None = extension["send"] if extension else None

    def send_now(self, frame: bytes) -> bool:
        if self._write_now is None:
            return False
        return self._write_now(_framing.wire(frame))

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
