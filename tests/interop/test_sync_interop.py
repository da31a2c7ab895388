"""The stock npm Yjs client (yjs + y-websocket, unmodified) against a real `tandem serve`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sync.protocol import SyncUpdate, encode
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients


async def test_concurrent_inserts_at_the_same_position_converge(
    server: TandemProcess, js: YjsClients
) -> None:
    for name in ("a", "b"):
        await js.connect(name, server.ws_url, "same-spot")
    await js.insert("a", 0, "base")
    await js.wait_text("b", equals="base")
    for name in ("a", "b"):
        await js.disconnect(name)
    await js.insert("a", 2, "AAA")  # both edit offset 2 without seeing the other
    await js.insert("b", 2, "BBB")
    for name in ("a", "b"):
        await js.reconnect(name)
    text = await js.converge("a", "b")
    assert sorted([text.index("AAA"), text.index("BBB")]) == [2, 5]
    assert text.startswith("ba") and text.endswith("se")


async def test_ten_clients_with_random_edits_converge(
    server: TandemProcess, js: YjsClients
) -> None:
    names = [f"c{i}" for i in range(10)]
    for name in names:
        await js.connect(name, server.ws_url, "random-edits")
    await asyncio.gather(*(js.random_edits(n, count=200, seed=i + 1) for i, n in enumerate(names)))
    text = await js.converge(*names, timeout_ms=20000)
    vectors = {await js.state_vector(n) for n in names}
    assert len(await js.text("c0")) == len(text) and len(vectors) == 1


async def test_late_joiner_gets_everything(server: TandemProcess, js: YjsClients) -> None:
    await js.connect("early", server.ws_url, "late")
    for i in range(20):
        await js.insert("early", 0, f"{i};")
    expected = await js.text("early")
    await js.connect("watcher", server.ws_url, "late")
    await js.wait_text("watcher", equals=expected)
    await js.connect("late", server.ws_url, "late")
    assert await js.text("late") == expected


async def test_joiners_arriving_while_others_type_miss_nothing(
    server: TandemProcess, js: YjsClients
) -> None:
    """A joiner's sync step 2 and the live updates sent to it race: whatever interleaving the
    server picks, the joiner must end with every update, as the typists have them."""
    typists = [f"t{i}" for i in range(3)]
    for name in typists:
        await js.connect(name, server.ws_url, "busy-join")

    async def join_while_typing() -> list[str]:
        joiners = []
        for i in range(8):
            joiners.append(f"j{i}")
            await js.connect(joiners[-1], server.ws_url, "busy-join")
        return joiners

    *_, joiners = await asyncio.gather(
        *(
            js.random_edits(n, count=300, seed=i + 7, rate_per_sec=100)
            for i, n in enumerate(typists)
        ),
        join_while_typing(),
    )
    names = typists + joiners
    text = await js.converge(*names, timeout_ms=20000)
    assert len({await js.state_vector(n) for n in names}) == 1 and text


async def test_offline_edits_merge_after_reconnect(server: TandemProcess, js: YjsClients) -> None:
    await js.connect("a", server.ws_url, "offline")
    await js.connect("b", server.ws_url, "offline")
    await js.insert("a", 0, "shared.")
    await js.wait_text("b", equals="shared.")
    await js.disconnect("b")
    await js.insert("b", 7, " from b offline.")
    await js.insert("a", 0, "a online: ")
    await js.wait_text("a", equals="a online: shared.")
    await js.reconnect("b")
    await js.wait_text("a", equals="a online: shared. from b offline.")
    await js.wait_text("b", equals="a online: shared. from b offline.")


async def test_awareness_appears_and_is_removed_on_disconnect(
    server: TandemProcess, js: YjsClients
) -> None:
    a = await js.connect("a", server.ws_url, "presence")
    await js.connect("b", server.ws_url, "presence")
    ann = {"user": {"name": "Ann", "color": "#f00"}}
    await js.set_awareness("a", ann)
    states = await js.wait_awareness("b", has=a, state=ann)
    assert states[a] == ann
    # A late joiner gets the presence that is already there.
    await js.connect("c", server.ws_url, "presence")
    await js.wait_awareness("c", has=a, state=ann)
    await js.destroy("a")
    await js.wait_awareness("b", lacks=a)
    await js.wait_awareness("c", lacks=a)


async def test_one_megabyte_document_syncs_to_a_new_client(
    server: TandemProcess, js: YjsClients
) -> None:
    await js.connect("writer", server.ws_url, "big")
    chunk = "0123456789abcdef" * 64  # 1 KiB
    for _ in range(1024):
        await js.insert("writer", 0, chunk)
    written = await js.text("writer")
    assert len(written) == 1024 * 1024
    await js.connect("reader", server.ws_url, "big", timeout_ms=20000)
    await js.wait_text("reader", equals=written, timeout_ms=20000)
    assert await js.state_vector("reader") == await js.state_vector("writer")


async def test_kill_9_and_restart_loses_nothing(tmp_path: Path, js: YjsClients) -> None:
    server = await TandemProcess(tmp_path).start()
    try:
        await js.connect("a", server.ws_url, "crash")
        await js.connect("b", server.ws_url, "crash")
        for i in range(30):
            await js.insert("a", 0, f"[{i}]")
        seen = await js.text("a")
        await js.wait_text("b", equals=seen)
        await server.kill()
        await js.wait_closed("b")
        # While the server is down both keep editing locally.
        await js.insert("b", 0, "offline-b ")
    finally:
        await server.kill()
    restarted = await TandemProcess(tmp_path, port=server.port).start()
    try:
        expected = "offline-b " + seen
        await js.wait_text(
            "a", equals=expected, timeout_ms=20000
        )  # providers reconnect by themselves
        await js.connect("fresh", restarted.ws_url, "crash")
        await js.wait_text("fresh", equals=expected)
    finally:
        await restarted.kill()


MALFORMED = {
    "garbage": (b"\xde\xad\xbe\xef", 1002),
    "truncated varint": (b"\x00\x02\xff\xff", 1002),
    "unknown message type": (b"\x0b\x00", 1002),
    "unappliable update": (encode(SyncUpdate(b"\x03\xff\xff\x7f\x00junk")), 1007),
    "text frame": ("not binary", 1003),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_input_leaves_other_clients_working(
    server: TandemProcess, js: YjsClients, case: str
) -> None:
    room = f"hostile-{case.replace(' ', '-')}"
    await js.connect("a", server.ws_url, room)
    await js.connect("b", server.ws_url, room)
    await js.insert("a", 0, "before")
    await js.wait_text("b", equals="before")
    frame, code = MALFORMED[case]
    await js.raw_socket("bad", f"{server.ws_url}/{room}")
    await js.raw_send("bad", frame)
    closed = await js.raw_wait_close("bad")
    assert closed["code"] == code
    await js.insert("b", 6, " after")
    await js.wait_text("a", equals="before after")
    assert (await js.status("a"))["closes"] == []


async def test_edits_never_cross_documents(server: TandemProcess, js: YjsClients) -> None:
    await js.connect("a1", server.ws_url, "doc-A")
    await js.connect("a2", server.ws_url, "doc-A")
    await js.connect("b1", server.ws_url, "doc-B")
    await js.insert("a1", 0, "only in A")
    await js.insert("b1", 0, "only in B")
    await js.wait_text("a2", equals="only in A")
    await js.connect("b2", server.ws_url, "doc-B")
    assert await js.text("b2") == "only in B"
    assert await js.text("b1") == "only in B"


async def test_idle_client_outlives_the_30_second_silence_timeout(
    server: TandemProcess, js: YjsClients
) -> None:
    # The stock provider reconnects after 30 s without hearing anything; the server must keep
    # an idle connection talking (awareness renewals are echoed back).
    # Alone in its room, so nothing but the server can keep it from hearing silence.
    await js.connect("idle", server.ws_url, "quiet")
    with pytest.raises(AssertionError, match="(?i)timed out|timeout"):
        await js.wait_closed("idle", timeout_ms=34000)
    status = await js.status("idle")
    assert status["connected"] and status["closes"] == []
    await js.connect("other", server.ws_url, "quiet")
    await js.insert("other", 0, "still connected")
    await js.wait_text("idle", equals="still connected")
