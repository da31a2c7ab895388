"""The Starlette websocket as a sync ``Transport``: errors mapped to ConnectionError."""

from __future__ import annotations

from starlette.websockets import WebSocket, WebSocketDisconnect


class WebSocketTransport:
    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def send(self, frame: bytes) -> None:
        try:
            await self._ws.send_bytes(frame)
        except (WebSocketDisconnect, RuntimeError) as exc:
            raise ConnectionError("websocket is closed") from exc

    async def close(self, code: int, reason: str) -> None:
        try:
            await self._ws.close(code, reason[:120])  # a close reason must fit 123 bytes
        except (WebSocketDisconnect, RuntimeError) as exc:
            raise ConnectionError("websocket is closed") from exc
