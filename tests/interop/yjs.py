"""Drive real npm Yjs clients (tests/interop/driver.mjs) from asyncio tests."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from pathlib import Path
from typing import Any, Self

HERE = Path(__file__).resolve().parent
_TIMEOUT_S = 30.0


class DriverError(AssertionError):
    """The Node side reported a failure (a timeout carries the state it saw)."""


class YjsClients:
    """One Node process hosting any number of named clients. Use as an async context manager."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        if not (HERE / "node_modules" / "y-websocket").exists():
            raise RuntimeError(
                "npm packages for the interop tests are missing: run `bash scripts/install.sh`"
            )
        self._proc = await asyncio.create_subprocess_exec(
            "node",
            str(HERE / "driver.mjs"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        self._reader = asyncio.create_task(self._read())
        await self.call("ping")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._proc is not None
        if self._proc.returncode is None:
            try:
                await asyncio.wait_for(self.call("exit"), 5)
                await asyncio.wait_for(self._proc.wait(), 5)
            except (TimeoutError, DriverError, ConnectionError):
                self._proc.kill()
                await self._proc.wait()
        if self._reader is not None:
            await self._reader

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            reply = json.loads(line)
            future = self._pending.pop(reply["id"], None)
            if future is None or future.done():
                continue
            if reply["ok"]:
                future.set_result(reply["result"])
            else:
                future.set_exception(DriverError(reply["error"]))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the Node driver exited"))

    async def call(self, cmd: str, **args: Any) -> Any:
        assert self._proc is not None and self._proc.stdin is not None
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._proc.stdin.write(json.dumps({"id": request_id, "cmd": cmd, **args}).encode() + b"\n")
        await self._proc.stdin.drain()
        # The Node side enforces the wait's own timeout; this one only guards a dead driver.
        timeout_s = max(_TIMEOUT_S, args.get("timeoutMs", 0) / 1000 + 5)
        return await asyncio.wait_for(future, timeout_s)

    # Typed conveniences for the common commands.

    async def connect(
        self, name: str, url: str, room: str, *, synced: bool = True, **params: str
    ) -> int:
        client_id = int(await self.call("connect", name=name, url=url, room=room, params=params))
        if synced:
            await self.call("waitSynced", name=name)
        return client_id

    async def insert(self, name: str, index: int, text: str) -> None:
        await self.call("insert", name=name, index=index, text=text)

    async def text(self, name: str) -> str:
        return str(await self.call("text", name=name))

    async def wait_text(self, name: str, equals: str, timeout_ms: int = 10000) -> None:
        await self.call("waitText", name=name, equals=equals, timeoutMs=timeout_ms)

    async def state_vector(self, name: str) -> str:
        return str(await self.call("stateVector", name=name))

    async def raw_frame_close(self, name: str, url: str, frame: bytes | str) -> dict[str, Any]:
        """Open a plain socket, send one hostile frame, return the close code and reason."""
        await self.call("rawOpen", name=name, url=url)
        if isinstance(frame, str):
            await self.call("rawSend", name=name, text=frame)
        else:
            await self.call("rawSend", name=name, base64=base64.b64encode(frame).decode())
        return dict(await self.call("rawWaitClose", name=name))
