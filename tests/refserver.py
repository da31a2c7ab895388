"""Run the reference y-websocket server (@y/websocket-server) on a free loopback port.

async with reference_server() as url:   # ws://127.0.0.1:PORT; the room is the URL path
    ...
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from tests.yjs import JS_DIR, require_node_modules

SERVER_JS = JS_DIR / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"
_READY_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def reference_server(
    *, host: str = "127.0.0.1", port: int = 0, env: Mapping[str, str] | None = None
) -> AsyncIterator[str]:
    """Start the server (HOST and PORT from the environment, like its `y-websocket` bin), wait
    for its listening line and an accepted connection, yield the ws URL, stop it by PID.

    ``env`` adds its own settings, e.g. ``YPERSISTENCE`` (a LevelDB dir) or ``GC``."""
    require_node_modules()
    port = port or free_port(host)
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(SERVER_JS),
        env={**os.environ, **(env or {}), "HOST": host, "PORT": str(port)},
        stdout=asyncio.subprocess.PIPE,
    )
    drain: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(_listening(proc), _READY_TIMEOUT_S)
        drain = asyncio.create_task(_drain(proc))
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), _READY_TIMEOUT_S)
        writer.close()
        await writer.wait_closed()
        yield f"ws://{host}:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if drain is not None:
            await drain


async def _listening(proc: asyncio.subprocess.Process) -> None:
    """Return once the server prints "running at '<host>' on port <port>" (after listen())."""
    assert proc.stdout is not None
    seen = b""
    async for line in proc.stdout:
        seen += line
        if line.startswith(b"running at"):
            return
    raise RuntimeError(
        f"reference server exited with code {await proc.wait()} before listening: {seen!r}"
    )


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    async for _ in proc.stdout:
        pass
