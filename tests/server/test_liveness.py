"""Connections that vanish without a close frame are detected and cleaned up."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from sync.protocol import (
    AwarenessEntry,
    AwarenessMessage,
    decode_awareness,
    encode,
    encode_awareness,
)
from tests.pyclient import PyClient
from tests.server_proc import TandemProcess


async def _silent_client(port: int, path: str, first_frame: bytes) -> asyncio.StreamWriter:
    """A websocket client that completes the handshake, sends one frame, then never reads or
    answers a ping again: what a laptop that lost its network looks like to the server."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    response = await reader.readuntil(b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 101"), response
    mask = os.urandom(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(first_frame))
    assert len(payload) < 126
    writer.write(bytes([0x82, 0x80 | len(payload)]) + mask + payload)
    await writer.drain()
    return writer


async def test_vanished_client_is_dropped_and_its_presence_removed(tmp_path: Path) -> None:
    env = {"TANDEM_WS_PING_INTERVAL_S": "0.3", "TANDEM_WS_PING_TIMEOUT_S": "0.3"}
    async with (
        TandemProcess(tmp_path, env=env) as server,
        PyClient(f"{server.ws_url}/liveness") as watcher,
    ):
        presence = encode(
            AwarenessMessage(encode_awareness([AwarenessEntry(777, 1, '{"name":"ghost"}')]))
        )
        ghost = await _silent_client(server.port, "/sync/liveness", presence)
        try:

            def seen(state: str) -> bool:
                return any(
                    e.client_id == 777 and e.state == state
                    for payload in watcher.awareness
                    for e in decode_awareness(payload)
                )

            await watcher.wait_for(lambda: seen('{"name":"ghost"}'), timeout_s=5)
            # No pong ever comes back: the server must notice and remove the ghost.
            await watcher.wait_for(lambda: seen("null"), timeout_s=5)
        finally:
            ghost.close()
