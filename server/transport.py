"""A sync connection's frames on the ASGI server's own send, errors mapped to ConnectionError.

Frames skip Starlette's ``WebSocket.send``: it re-checks its state machine on every frame,
which the peer's own state already guards, and the fan-out sends every frame to every peer."""

from __future__ import annotations

from starlette.types import Send


class AsgiTransport:
    def __init__(self, send: Send) -> None:
        self._send = send

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
