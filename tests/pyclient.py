"""A minimal y-websocket client in Python (pycrdt + websockets) for protocol-level tests.

The stock JS client (tests/yjs.py) is the interop truth; this one exists to send exactly the
frames a test wants and to observe exactly what the server answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Self

import websockets
from pycrdt import Doc, Text

from sync.protocol import (
    AwarenessMessage,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode,
    encode,
)


class PyClient:
    def __init__(self, url: str, *, compression: str | None = None) -> None:
        self.url = url
        self.compression = compression
        self.doc = Doc()
        self.text = self.doc.get("content", type=Text)
        self.ws: Any = None
        self.awareness: list[bytes] = []
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self._outgoing: list[bytes] = []
        self.doc.observe(self._local_change)

    def _local_change(self, event: Any) -> None:
        self._changed.set()
        self._outgoing.append(event.update)

    async def insert(self, index: int, text: str) -> None:
        """Edit locally and send the resulting update, as a provider would."""
        self._outgoing.clear()
        self.text.insert(index, text)
        for update in self._outgoing:
            await self.send(encode(SyncUpdate(update)))
        self._outgoing.clear()

    async def __aenter__(self) -> Self:
        self.ws = await websockets.connect(self.url, max_size=None, compression=self.compression)
        self._reader = asyncio.create_task(self._read())
        await self.send(encode(SyncStep1(self.doc.get_state())))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.ws.close()
        if self._reader is not None:
            await self._reader

    async def send(self, frame: bytes | str) -> None:
        await self.ws.send(frame)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                message = decode(frame)
                match message:
                    case SyncStep1(sv):
                        await self.send(encode(SyncStep2(self.doc.get_update(sv))))
                    case SyncStep2(update) | SyncUpdate(update):
                        self.doc.apply_update(update)
                        self._outgoing.clear()
                    case AwarenessMessage(payload):
                        self.awareness.append(payload)
                        self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.protocol.close_rcvd
            self.close_code = rcvd.code if rcvd else None
            self.close_reason = rcvd.reason if rcvd else ""
            self.closed.set()

    async def wait_text(self, expected: str, timeout_s: float = 10.0) -> None:
        async def until() -> None:
            while str(self.text) != expected:
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(until(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"text is {str(self.text)!r}, wanted {expected!r}") from None

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async def until() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout_s)

    async def wait_closed(self, timeout_s: float = 10.0) -> tuple[int | None, str]:
        await asyncio.wait_for(self.closed.wait(), timeout_s)
        return self.close_code, self.close_reason
