"""The sync endpoint against a real ``tandem serve`` process, with a Python protocol client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.frames import Frame, Opcode

from tests.pyclient import PyClient
from tests.server_proc import TandemProcess


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[TandemProcess]:
    async with TandemProcess(tmp_path / "data") as proc:
        yield proc


async def test_two_clients_see_each_others_edits(server: TandemProcess) -> None:
    async with PyClient(f"{server.ws_url}/doc-1") as a, PyClient(f"{server.ws_url}/doc-1") as b:
        await a.insert(0, "hello")
        await b.wait_text("hello")
        await b.insert(5, " world")
        await a.wait_text("hello world")


async def test_client_updates_are_handled_in_the_protocol_callback(server: TandemProcess) -> None:
    """The fast path (ws_protocol.py, ``tandem.receive_now``): a client's messages are handled
    as they arrive, not queued for the connection's task, and still relayed in their order."""
    words = [f"w{i} " for i in range(40)]
    async with PyClient(f"{server.ws_url}/fast") as a, PyClient(f"{server.ws_url}/fast") as b:
        for i, word in enumerate(words):
            await a.insert(sum(map(len, words[:i])), word)
        await b.wait_text("".join(words))
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"{server.http_url}/metrics")).text
    handled = {
        path: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        for path in ("callback", "task")
        if line.startswith(f'tandem_inbound_handled_total{{path="{path}"}}')
    }
    # Each client also sent its step 1 and its step 2 on connecting: 40 + 4 messages.
    assert handled["callback"] + handled["task"] == len(words) + 4
    assert handled["callback"] >= len(words)


async def test_deflate_and_plain_clients_co_edit_when_the_server_allows_deflate(
    tmp_path: Path,
) -> None:
    """Frames framed once for every peer are written only to peers without extensions; a
    peer that negotiated permessage-deflate gets its frames through the websocket library."""
    env = {"TANDEM_WS_PER_MESSAGE_DEFLATE": "true"}
    async with TandemProcess(tmp_path / "data", env=env) as server:
        url = f"{server.ws_url}/doc-1"
        async with (
            PyClient(url, compression="deflate") as squeezed,
            PyClient(url) as plain,
            PyClient(url) as other_plain,
        ):
            extensions = squeezed.ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert "permessage-deflate" in extensions
            assert "Sec-WebSocket-Extensions" not in plain.ws.response.headers
            (deflate,) = squeezed.ws.protocol.extensions
            compressed: list[bool] = []
            decode = deflate.decode

            def note_compression(frame: Frame, **kwargs: object) -> Frame:
                if frame.opcode is Opcode.BINARY:
                    compressed.append(frame.rsv1)
                return decode(frame, **kwargs)

            deflate.decode = note_compression
            await plain.insert(0, "plain " * 200)  # long enough to be worth compressing
            await squeezed.wait_text("plain " * 200)
            assert compressed == [True]  # framed for this peer, not the plain ones' bytes
            await squeezed.insert(0, "squeezed ")
            for client in (plain, other_plain):
                await client.wait_text("squeezed " + "plain " * 200)


async def test_garbage_frame_closes_only_its_sender(server: TandemProcess) -> None:
    async with PyClient(f"{server.ws_url}/doc-1") as a, PyClient(f"{server.ws_url}/doc-1") as b:
        async with PyClient(f"{server.ws_url}/doc-1") as bad:
            await bad.send(b"\x00\x02\xff\xff\xff")
            code, _ = await bad.wait_closed()
        assert code == 1002
        await a.insert(0, "still fine")
        await b.wait_text("still fine")
