"""Drive real npm Yjs clients (tests/js/yclient.mjs) from asyncio tests.

async with YjsClients() as js:
    await js.connect("a", url, "room")
    await js.insert("a", 0, "hi")
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
from pathlib import Path
from typing import Any, Self, TypedDict

JS_DIR = Path(__file__).resolve().parent / "js"
INSTALL_STEP = "npm ci --prefix tests/js"
_CALL_TIMEOUT_S = 30.0
_EXIT_TIMEOUT_S = 5.0
_LINE_LIMIT = 256 * 1024 * 1024


class YjsClientError(AssertionError):
    """The Node side failed a command; a timed-out wait carries what it saw last."""


class Close(TypedDict):
    code: int
    reason: str


class Status(TypedDict):
    connected: bool
    synced: bool
    broadcastChannel: bool
    closes: list[Close]
    lastClose: Close | None
    terminalClose: Close | None
    errors: list[str]


def require_node_modules(js_dir: Path = JS_DIR) -> None:
    """Fail with the install step when Node or the npm packages are missing."""
    if shutil.which("node") is None:
        raise RuntimeError(f"node is not on PATH: install Node >= 20, then run `{INSTALL_STEP}`")
    for package in ("yjs", "y-websocket", "ws"):
        if not (js_dir / "node_modules" / package / "package.json").exists():
            raise RuntimeError(f"npm packages missing in {js_dir}: run `{INSTALL_STEP}`")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class YjsClients:
    """One Node process hosting any number of named clients and raw sockets.

    Errors Node reports outside a command (an exception in a socket handler) collect in
    ``errors`` and fail the ``async with`` block on exit; clear the list to accept them.
    """

    def __init__(self, js_dir: Path = JS_DIR, script: Path | None = None) -> None:
        self.js_dir = js_dir
        self.script = script or js_dir / "yclient.mjs"
        """yclient.mjs, or a script that imports it to add commands (bench/chaos/typists.mjs)."""
        self.errors: list[str] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}

    async def __aenter__(self) -> Self:
        require_node_modules(self.js_dir)
        self._proc = await asyncio.create_subprocess_exec(
            "node",
            str(self.script),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
        )
        self._reader = asyncio.create_task(self._read())
        try:
            await self.call("ping")
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        await self._stop()
        if exc_type is None and self.errors:
            raise YjsClientError("Node reported errors:\n" + "\n".join(self.errors))

    async def _stop(self) -> None:
        proc = self._proc
        assert proc is not None and self._reader is not None
        try:
            if proc.returncode is None:
                await self.call("exit", timeout_s=_EXIT_TIMEOUT_S)
                await asyncio.wait_for(proc.wait(), _EXIT_TIMEOUT_S)
        except (TimeoutError, YjsClientError, ConnectionError):
            pass  # killed below
        finally:
            if proc.returncode is None:
                proc.kill()  # by PID: only the process this object started
                await proc.wait()
        await self._reader

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                self.errors.append(f"unexpected output: {line[:500]!r}")
                continue
            if "event" in message:
                self.errors.append(f"{message.get('name')}: {message.get('error')}")
                continue
            future = self._pending.pop(message["id"], None)
            if future is None or future.done():
                continue
            if message["ok"]:
                future.set_result(message["result"])
            else:
                future.set_exception(YjsClientError(message["error"]))
        code = await self._proc.wait()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"{self.script.name} exited with code {code}"))
        self._pending.clear()

    async def call(self, cmd: str, *, timeout_s: float | None = None, **args: Any) -> Any:
        """Send one command and return its result. Node enforces a wait's own ``timeoutMs``;
        ``timeout_s`` (by default that plus a margin) only guards against a stuck process."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            raise ConnectionError(f"{self.script.name} is not running")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        if timeout_s is None:
            timeout_s = max(_CALL_TIMEOUT_S, args.get("timeoutMs", 0) / 1000 + 5)
        try:
            proc.stdin.write(json.dumps({"id": request_id, "cmd": cmd, **args}).encode() + b"\n")
            await proc.stdin.drain()
            return await asyncio.wait_for(future, timeout_s)
        finally:
            self._pending.pop(request_id, None)

    # Provider clients.

    async def connect(
        self,
        name: str,
        url: str,
        room: str,
        *,
        params: dict[str, str] | None = None,
        synced: bool = True,
        timeout_ms: int = 10000,
    ) -> int:
        """A new Y.Doc with a WebsocketProvider; waits for the first sync unless told not to."""
        client_id = int(
            await self.call("connect", name=name, url=url, room=room, params=params or {})
        )
        if synced:
            await self.wait_synced(name, timeout_ms)
        return client_id

    async def wait_synced(self, name: str, timeout_ms: int = 10000) -> None:
        await self.call("waitSynced", name=name, timeoutMs=timeout_ms)

    async def insert(self, name: str, index: int, text: str) -> None:
        await self.call("insert", name=name, index=index, text=text)

    async def delete(self, name: str, index: int, length: int) -> None:
        await self.call("delete", name=name, index=index, length=length)

    async def text(self, name: str) -> str:
        return str(await self.call("text", name=name))

    async def wait_text(
        self,
        name: str,
        *,
        equals: str | None = None,
        contains: str | None = None,
        timeout_ms: int = 10000,
    ) -> None:
        match = {"equals": equals} if equals is not None else {"contains": contains}
        await self.call("waitText", name=name, timeoutMs=timeout_ms, **match)

    async def state_vector(self, name: str) -> bytes:
        return base64.b64decode(await self.call("stateVector", name=name))

    async def encode_state(self, name: str) -> bytes:
        return base64.b64decode(await self.call("encodeState", name=name))

    async def wait_covers(self, name: str, state_vector: bytes, timeout_ms: int = 10000) -> None:
        """Wait until ``name`` has every update the state vector describes."""
        await self.call(
            "waitCovers", name=name, stateVector=_b64(state_vector), timeoutMs=timeout_ms
        )

    async def converge(self, *names: str, timeout_ms: int = 10000) -> str:
        """Wait until all clients have each other's updates; return the common text."""
        vectors = [await self.state_vector(name) for name in names]
        for name in names:
            for vector in vectors:
                await self.wait_covers(name, vector, timeout_ms)
        texts = {name: await self.text(name) for name in names}
        if len(set(texts.values())) != 1:
            raise YjsClientError(f"same updates, different texts: {texts}")
        return texts[names[0]]

    async def random_edits(
        self, name: str, count: int, seed: int, rate_per_sec: float | None = None
    ) -> int:
        """Seeded random inserts and deletes, paced if a rate is given; returns the length."""
        args: dict[str, Any] = {"name": name, "count": count, "seed": seed}
        timeout_s = _CALL_TIMEOUT_S
        if rate_per_sec:
            args["ratePerSec"] = rate_per_sec
            timeout_s += count / rate_per_sec
        return int(await self.call("randomEdits", timeout_s=timeout_s, **args))

    async def set_awareness(self, name: str, state: Any) -> None:
        await self.call("setAwareness", name=name, state=state)

    async def awareness(self, name: str) -> dict[int, Any]:
        """The other clients' awareness states, by client id."""
        return {int(k): v for k, v in (await self.call("awareness", name=name)).items()}

    async def wait_awareness(
        self,
        name: str,
        *,
        count: int | None = None,
        has: int | None = None,
        state: Any = None,
        includes: dict[str, Any] | None = None,
        lacks: int | None = None,
        timeout_ms: int = 10000,
    ) -> dict[int, Any]:
        """Wait until ``name`` sees ``count`` others, sees a client id (with exactly ``state``,
        or a state with the fields of ``includes``, if given), or no longer sees one; return
        the others' states."""
        wanted = {"count": count, "has": has, "state": state, "includes": includes, "lacks": lacks}
        predicate = {key: value for key, value in wanted.items() if value is not None}
        states = await self.call(
            "waitAwareness", name=name, predicate=predicate, timeoutMs=timeout_ms
        )
        return {int(k): v for k, v in states.items()}

    async def client_id(self, name: str) -> int:
        return int(await self.call("clientId", name=name))

    async def disconnect(self, name: str) -> None:
        await self.call("disconnect", name=name)

    async def reconnect(self, name: str) -> None:
        await self.call("reconnect", name=name)

    async def status(self, name: str) -> Status:
        result: Status = await self.call("status", name=name)
        return result

    async def wait_closed(self, name: str, count: int = 1, timeout_ms: int = 10000) -> list[Close]:
        """Wait until the provider's socket was closed ``count`` times not by the client."""
        closes: list[Close] = await self.call(
            "waitClosed", name=name, count=count, timeoutMs=timeout_ms
        )
        return closes

    async def destroy(self, name: str) -> None:
        await self.call("destroy", name=name)

    # Raw sockets, for bytes no client would send.

    async def raw_socket(self, name: str, url: str) -> None:
        await self.call("rawSocket", name=name, url=url)

    async def raw_send(self, name: str, data: bytes | str) -> None:
        """Send one frame: binary for bytes, text for str."""
        if isinstance(data, str):
            await self.call("rawSend", name=name, text=data)
        else:
            await self.call("rawSend", name=name, base64=_b64(data))

    async def raw_messages(self, name: str, count: int = 0, timeout_ms: int = 10000) -> list[bytes]:
        """The frames received so far, after waiting until there are at least ``count``."""
        frames = await self.call("rawMessages", name=name, count=count, timeoutMs=timeout_ms)
        return [base64.b64decode(frame) for frame in frames]

    async def raw_close(self, name: str, code: int | None = None, reason: str = "") -> None:
        await self.call(
            "rawClose", name=name, reason=reason, **({} if code is None else {"code": code})
        )

    async def raw_wait_close(self, name: str, timeout_ms: int = 10000) -> Close:
        close: Close = await self.call("rawWaitClose", name=name, timeoutMs=timeout_ms)
        return close
