"""Stock Yjs, in Node, as the judge of relative positions (tests/assistant/js/relpos.mjs)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any, Self

from tests.yjs import require_node_modules

SCRIPT = Path(__file__).resolve().parent / "js" / "relpos.mjs"


class RelPos:
    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Self:
        require_node_modules()
        self._proc = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._proc is not None
        if self._proc.returncode is None:
            self._proc.kill()  # by PID: the process this object started
        await self._proc.wait()

    async def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(json.dumps(request).encode() + b"\n")
        await self._proc.stdin.drain()
        line = await asyncio.wait_for(self._proc.stdout.readline(), 30)
        reply: dict[str, Any] = json.loads(line)
        assert reply["ok"], reply.get("error")
        return reply

    async def decode(self, update: bytes, anchors: list[str]) -> list[int | None]:
        """UTF-16 indices, as a browser would see them."""
        reply = await self._call({"update": base64.b64encode(update).decode(), "decode": anchors})
        return list(reply["indices"])

    async def encode(self, update: bytes, positions: list[tuple[int, int]]) -> list[str]:
        """Anchors for (UTF-16 index, assoc) pairs, made by stock Yjs."""
        reply = await self._call(
            {"update": base64.b64encode(update).decode(), "encode": [list(p) for p in positions]}
        )
        return list(reply["anchors"])
