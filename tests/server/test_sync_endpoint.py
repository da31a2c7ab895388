"""The sync endpoint against a real ``tandem serve`` process, with a Python protocol client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

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


async def test_garbage_frame_closes_only_its_sender(server: TandemProcess) -> None:
    async with PyClient(f"{server.ws_url}/doc-1") as a, PyClient(f"{server.ws_url}/doc-1") as b:
        async with PyClient(f"{server.ws_url}/doc-1") as bad:
            await bad.send(b"\x00\x02\xff\xff\xff")
            code, _ = await bad.wait_closed()
        assert code == 1002
        await a.insert(0, "still fine")
        await b.wait_text("still fine")
