"""The Yjs harness (tests/yjs.py + tests/js/yclient.mjs) against the reference y-websocket
server, so a failure in a Tandem interop test is about Tandem, not the harness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.refserver import reference_server
from tests.yjs import INSTALL_STEP, YjsClientError, YjsClients

pytestmark = pytest.mark.interop


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with reference_server() as server_url:
        yield server_url


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


async def test_clients_sync_through_the_server_not_a_broadcast_channel(
    url: str, js: YjsClients
) -> None:
    await js.connect("a", url, "bc")
    status = await js.status("a")
    assert status["connected"] and status["synced"]
    assert status["broadcastChannel"] is False


async def test_concurrent_inserts_at_the_same_position_converge(url: str, js: YjsClients) -> None:
    for name in ("a", "b"):
        await js.connect(name, url, "same-spot")
    await js.insert("a", 0, "base")
    await js.wait_text("b", equals="base")
    for name in ("a", "b"):
        await js.disconnect(name)
    await js.insert("a", 2, "AAA")
    await js.insert("b", 2, "BBB")
    for name in ("a", "b"):
        await js.reconnect(name)
    await js.wait_text("a", contains="BBB")
    await js.wait_text("b", contains="AAA")
    assert await js.converge("a", "b") in {"baAAABBBse", "baBBBAAAse"}
    assert await js.state_vector("a") == await js.state_vector("b")


async def test_random_edits_from_many_clients_converge(url: str, js: YjsClients) -> None:
    names = [f"c{i}" for i in range(5)]
    for name in names:
        await js.connect(name, url, "random")
    for seed, name in enumerate(names, start=1):
        await js.random_edits(name, count=100, seed=seed, rate_per_sec=2000)
    text = await js.converge(*names)
    assert text and await js.encode_state(names[0])


async def test_late_joiner_gets_the_whole_document(url: str, js: YjsClients) -> None:
    await js.connect("early", url, "late")
    for i in range(20):
        await js.insert("early", 0, f"{i};")
    await js.delete("early", 0, 3)
    expected = await js.text("early")
    await js.connect("late", url, "late")
    assert await js.text("late") == expected


async def test_awareness_appears_and_is_removed_on_disconnect(url: str, js: YjsClients) -> None:
    alice = await js.connect("alice", url, "presence")
    await js.connect("bob", url, "presence")
    await js.set_awareness("alice", {"user": "alice", "cursor": 3})
    await js.wait_awareness("bob", has=alice, state={"user": "alice", "cursor": 3})
    assert await js.wait_awareness("bob", count=1) == {alice: {"user": "alice", "cursor": 3}}
    await js.disconnect("alice")
    assert alice not in await js.wait_awareness("bob", lacks=alice)
    assert await js.awareness("bob") == {}


async def test_waits_time_out_with_what_they_saw(url: str, js: YjsClients) -> None:
    await js.connect("a", url, "timeout")
    await js.insert("a", 0, "actual")
    with pytest.raises(YjsClientError, match='timed out after 50 ms: text is "actual"'):
        await js.wait_text("a", equals="expected", timeout_ms=50)
    with pytest.raises(YjsClientError, match="no client or socket named"):
        await js.text("nobody")


async def test_raw_socket_sees_the_close_it_gets_back(url: str, js: YjsClients) -> None:
    await js.raw_socket("raw", f"{url}/raw-room")
    first = (await js.raw_messages("raw", count=1))[0]
    assert first[:2] == b"\x00\x00"  # sync step 1 from the server
    await js.raw_send("raw", b"\xff\xff\xff")
    await js.raw_close("raw", 4000, "done")
    assert await js.raw_wait_close("raw") == {"code": 4000, "reason": "done"}


async def test_status_records_the_close_when_the_server_goes_away(js: YjsClients) -> None:
    async with reference_server() as url:
        await js.connect("a", url, "gone")
        await js.raw_socket("raw", f"{url}/gone")
    assert (await js.raw_wait_close("raw"))["code"] == 1006
    assert (await js.wait_closed("a"))[0]["code"] == 1006
    status = await js.status("a")
    assert not status["connected"] and status["lastClose"] == {"code": 1006, "reason": ""}
    await js.destroy("a")


async def test_an_exception_in_a_provider_handler_is_reported_and_fails_the_block() -> None:
    replied = asyncio.Event()

    async def hostile(ws: ServerConnection) -> None:
        await ws.send(b"\x00\x07")  # sync message of unknown type 7: the provider throws
        await ws.send(b"\x00\x00\x01\x00")  # sync step 1; its reply proves the socket still reads
        async for message in ws:
            if isinstance(message, bytes) and message.startswith(b"\x00\x01"):
                replied.set()

    async with serve(hostile, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(YjsClientError, match="Unknown message type"):
            async with YjsClients() as js:
                await js.connect("a", f"ws://127.0.0.1:{port}", "hostile", synced=False)
                await asyncio.wait_for(replied.wait(), 10)
                assert "Unknown message type" in (await js.status("a"))["errors"][0]


async def test_missing_npm_packages_name_the_install_step(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=INSTALL_STEP):
        async with YjsClients(js_dir=tmp_path):
            pass
