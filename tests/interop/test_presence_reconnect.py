"""A stock client whose network path died reconnects while the server still holds its old,
silent connection (until the ping timeout): its client id is the old connection's meanwhile.
Its presence must come back as soon as the server lets the old connection go (open access),
or at once when the account is the same."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Self

import pytest

from tests.accounts import sign_up
from tests.server_proc import TandemProcess, free_port
from tests.yjs import YjsClients

JWT_SECRET = "presence-reconnect-secret-0123456789-abcdefghij"


class SeverableProxy:
    """A TCP proxy whose ``sever`` cuts the clients' side of every connection while the
    server's side stays open and unread: to the server, a client whose network vanished."""

    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._links: list[tuple[asyncio.StreamWriter, list[asyncio.Task[None]]]] = []
        self._held: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        self.sever()
        for writer in self._held:
            writer.close()
        await self._server.wait_closed()

    def url(self, path: str = "/sync") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
        pipes = [
            asyncio.create_task(_pipe(reader, up_writer)),
            asyncio.create_task(_pipe(up_reader, writer)),
        ]
        self._links.append((writer, pipes))
        self._held.append(up_writer)

    def sever(self) -> None:
        for writer, pipes in self._links:
            for pipe in pipes:
                pipe.cancel()
            writer.transport.abort()
        self._links.clear()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[tuple[TandemProcess, SeverableProxy]]:
    env = {"TANDEM_WS_PING_INTERVAL_S": "1", "TANDEM_WS_PING_TIMEOUT_S": "1"}
    async with TandemProcess(tmp_path, env=env) as server, SeverableProxy(server.port) as proxy:
        yield server, proxy


async def test_presence_returns_when_the_old_connection_is_let_go(
    proxied: tuple[TandemProcess, SeverableProxy], js: YjsClients
) -> None:
    server, proxy = proxied
    me = await js.connect("me", proxy.url(), "reconnect")
    await js.connect("watch", server.ws_url, "reconnect")
    await js.set_awareness("me", {"v": 1})
    await js.wait_awareness("watch", has=me, state={"v": 1})
    proxy.sever()
    await js.wait_closed("me")
    await js.wait_synced("me")  # reconnected by itself, through the proxy again
    # Moved twice while the server still takes its id for the old connection's.
    await js.set_awareness("me", {"v": 2})
    await js.set_awareness("me", {"v": 3})
    assert (await js.awareness("watch"))[me] == {"v": 1}
    # The old connection goes at the ping timeout (about 2 s here); its removal is sent past
    # the clock the client reached, so it re-announces at once rather than at its next
    # renewal, 15 s later.
    await js.wait_awareness("watch", has=me, state={"v": 3}, timeout_ms=8000)


async def test_the_same_account_takes_its_presence_back_at_once(
    tmp_path: Path, js: YjsClients
) -> None:
    env = {"TANDEM_OPEN_ACCESS": "false", "TANDEM_JWT_SECRET": JWT_SECRET}
    async with TandemProcess(tmp_path, env=env) as server, SeverableProxy(server.port) as proxy:
        ann = await sign_up(server.http_url)
        doc = await ann.create_doc(await ann.create_workspace())
        me = await js.connect("me", proxy.url(), doc, params={"token": ann.token})
        await js.connect("watch", server.ws_url, doc, params={"token": ann.token})
        await js.set_awareness("me", {"v": 1})
        await js.wait_awareness("watch", has=me, includes={"v": 1})
        proxy.sever()
        await js.wait_closed("me")
        await js.wait_synced("me")
        await js.set_awareness("me", {"v": 2})
        # Long before the old connection's ping timeout (20 s by default).
        await js.wait_awareness("watch", has=me, includes={"v": 2}, timeout_ms=3000)
