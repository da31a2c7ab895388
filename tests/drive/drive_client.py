"""Test helpers for the drive: its HTTP API as a signed-in account, and a live-tree watcher
(a stock Yjs client in Node, tests/drive/treeclient.mjs)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Self

import httpx

from tests.accounts import Account
from tests.yjs import require_node_modules

TREE_CLIENT = Path(__file__).resolve().parent / "treeclient.mjs"


class DriveApi:
    """One account's view of one workspace's drive."""

    def __init__(self, account: Account, workspace_id: str) -> None:
        self.account = account
        self.ws = workspace_id
        self.base = f"/api/workspaces/{workspace_id}/drive"

    async def call(
        self, method: str, path: str, *, expect: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {**self.account.headers, **kwargs.pop("headers", {})}
        async with httpx.AsyncClient(base_url=self.account.base_url, timeout=120.0) as client:
            response = await client.request(method, self.base + path, headers=headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (
                f"{method} {path}: {response.status_code} {response.text[:500]}"
            )
        return response

    async def refused(self, status: int, code: str, method: str, path: str, **kwargs: Any) -> None:
        response = await self.call(method, path, **kwargs)
        assert response.status_code == status, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        assert response.json()["error"]["code"] == code, response.text

    async def tree(self) -> dict[str, Any]:
        return (await self.call("GET", "", expect=200)).json()  # type: ignore[no-any-return]

    async def folder(self, name: str, parent_id: str | None = None) -> dict[str, Any]:
        body = {"name": name, "parent_id": parent_id}
        return (await self.call("POST", "/folders", json=body, expect=201)).json()  # type: ignore[no-any-return]

    async def text_file(
        self, name: str, text: str = "", parent_id: str | None = None
    ) -> dict[str, Any]:
        body = {"name": name, "text": text, "parent_id": parent_id}
        return (await self.call("POST", "/files", json=body, expect=201)).json()  # type: ignore[no-any-return]

    async def upload(
        self,
        name: str,
        content: bytes | AsyncIterator[bytes],
        parent_id: str | None = None,
        content_type: str | None = None,
        expect: int | None = 201,
    ) -> httpx.Response:
        params = {"name": name, **({"parent_id": parent_id} if parent_id else {})}
        headers = {"content-type": content_type} if content_type else {}
        return await self.call(
            "POST", "/upload", params=params, content=content, headers=headers, expect=expect
        )

    async def children(self, parent_id: str | None = None) -> list[dict[str, Any]]:
        params = {"parent_id": parent_id} if parent_id else {}
        response = await self.call("GET", "/entries", params=params, expect=200)
        return response.json()["entries"]  # type: ignore[no-any-return]

    async def names(self, parent_id: str | None = None) -> list[str]:
        return [entry["name"] for entry in await self.children(parent_id)]

    async def update(self, entry_id: str, expect: int = 200, **body: Any) -> dict[str, Any]:
        return (await self.call("PATCH", f"/entries/{entry_id}", json=body, expect=expect)).json()  # type: ignore[no-any-return]

    async def trash(self, entry_id: str) -> dict[str, Any]:
        return (await self.call("DELETE", f"/entries/{entry_id}", expect=200)).json()  # type: ignore[no-any-return]

    async def restore(self, entry_id: str, expect: int = 200, **body: Any) -> dict[str, Any]:
        response = await self.call("POST", f"/entries/{entry_id}/restore", json=body, expect=expect)
        return response.json()  # type: ignore[no-any-return]

    @contextlib.asynccontextmanager
    async def stream(self, entry_id: str) -> AsyncIterator[httpx.Response]:
        """A download read as it arrives."""
        async with (
            httpx.AsyncClient(base_url=self.account.base_url, timeout=120.0) as client,
            client.stream(
                "GET", f"{self.base}/entries/{entry_id}/content", headers=self.account.headers
            ) as response,
        ):
            assert response.status_code == 200, response.status_code
            yield response

    async def content(self, entry_id: str) -> httpx.Response:
        return await self.call("GET", f"/entries/{entry_id}/content", expect=200)


class TreeClosedError(AssertionError):
    """The server closed the tree client's socket before the first sync."""

    def __init__(self, code: int) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class TreeWatcher:
    """A stock Yjs client on ``tree:{ws}``; ``wait`` until its view satisfies a predicate."""

    def __init__(self, ws_url: str, workspace_id: str, token: str) -> None:
        self.args = [ws_url, f"tree:{workspace_id}", token]
        self.entries: dict[str, Any] = {}
        self.synced = False
        self.closes: list[int] = []
        self.errors: list[str] = []
        self.changed_at: float = 0.0
        self._changed = asyncio.Condition()
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        require_node_modules()
        self._proc = await asyncio.create_subprocess_exec(
            "node",
            str(TREE_CLIENT),
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        self._reader = asyncio.create_task(self._read())
        await self.wait(lambda entries: self.synced or bool(self.closes), what="first sync")
        if not self.synced:
            await self.__aexit__(None, None, None)
            raise TreeClosedError(self.closes[0])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        proc = self._proc
        assert proc is not None and self._reader is not None
        if proc.returncode is None:
            proc.kill()  # by PID: the process this object started
            await proc.wait()
        await self._reader
        assert not self.errors, self.errors

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            message = json.loads(line)
            async with self._changed:
                if "error" in message:
                    self.errors.append(message["error"])
                elif "closed" in message:
                    self.closes.append(message["closed"])
                else:
                    self.synced = self.synced or message["synced"]
                    self.entries = message["entries"]
                    self.changed_at = time.monotonic()
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def wait(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        timeout_s: float = 10.0,
        what: str = "the tree",
    ) -> dict[str, Any]:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: predicate(self.entries) or self._proc.returncode is not None  # type: ignore[union-attr]
                )

        try:
            await asyncio.wait_for(until(), timeout_s)
        except TimeoutError:
            raise AssertionError(
                f"{what} not seen within {timeout_s}s; view: {self.entries}, closes: {self.closes}"
            ) from None
        assert predicate(self.entries), f"tree client exited; closes: {self.closes}"
        return self.entries

    async def forge(self, key: str, value: Any) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(
            json.dumps({"cmd": "forge", "key": key, "value": value}).encode() + b"\n"
        )
        await self._proc.stdin.drain()
