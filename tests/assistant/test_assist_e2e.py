"""End to end on a real ``tandem serve`` with stock Yjs clients and the scripted model server."""

from __future__ import annotations

import asyncio

import httpx
from pycrdt import Doc, Map, Text

from assistant import anchors
from sync.protocol import SyncStep1, SyncStep2, SyncUpdate, decode, encode
from tests.accounts import Account, sign_up
from tests.assistant.conftest import ask, suggestion, wait_status
from tests.assistant.relpos import RelPos
from tests.modelserver import ModelServer, Reply
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

TEXT = "Grüße 😀 aus Köln, schöne Stadt!\n"


async def team(server: TandemProcess) -> tuple[Account, Account, Account, str]:
    alice, bob, carol = [await sign_up(server.http_url) for _ in range(3)]
    ws = await alice.create_workspace()
    await alice.add_member(ws, bob, "editor")
    await alice.add_member(ws, carol, "editor")
    return alice, bob, carol, await alice.create_doc(ws)


async def join(js: YjsClients, server: TandemProcess, who: dict[str, Account], doc: str) -> None:
    for name, account in who.items():
        await js.connect(name, server.ws_url, doc, params={"token": account.token})


async def test_a_asks_b_sees_it_stream_c_accepts_everyone_converges(
    server: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    alice, bob, carol, doc = await team(server)
    await join(js, server, {"a": alice, "b": bob, "c": carol}, doc)
    await js.insert("a", 0, TEXT)
    await js.converge("a", "b", "c")
    # B watches the suggestions document with a raw socket: every update frame it gets.
    board_url = f"{server.ws_url}/{doc}:suggestions?token={bob.token}"
    tokens = ["from ", "Co", "lo", "gne ", "(the ", "city ", "on ", "the ", "Rhine)"]
    model.script_for("aus Köln", Reply(tokens=tokens, rate_per_s=15))
    start = TEXT.index("aus Köln")
    sid = await ask(alice, doc, start, start + len("aus Köln"), instruction="in English")
    await js.raw_socket("bw", board_url)
    await js.raw_send("bw", encode(SyncStep1(Doc().get_state())))  # the state so far, then updates
    done = await wait_status(bob, doc, sid, "pending")
    proposal = "".join(tokens)
    assert done["proposal"] == proposal and done["model"] == "test-model"
    assert done["requested_by_name"] == alice.username
    assert done["first_token_at"] <= done["finished_at"]

    frames = await js.raw_messages("bw")
    replica = Doc()
    seen: list[str] = []
    for frame in frames:
        message = decode(frame)
        if isinstance(message, SyncUpdate | SyncStep2):
            replica.apply_update(message.update)
            entry = replica.get("suggestions", type=Map).get(sid)
            if isinstance(entry, Map):
                seen.append(str(entry["proposal"]))
    growing = [p for p in dict.fromkeys(seen) if p and p != proposal]
    assert len(growing) >= 3, f"B saw the proposal only as {seen}"
    assert all(proposal.startswith(p) for p in growing)
    assert len(frames) < 3 * len(tokens) + 10  # throttled: not one update per token per field

    # A stock Yjs client reads the suggestion and resolves its anchors like the server does.
    await js.connect("bs", server.ws_url, f"{doc}:suggestions", params={"token": bob.token})
    board = Doc()
    board.apply_update(await js.encode_state("bs"))
    entry = board.get("suggestions", type=Map)[sid]
    assert str(entry["proposal"]) == proposal and entry["status"] == "pending"
    content = Doc()
    content.apply_update(await js.encode_state("b"))
    async with RelPos() as yjs:
        got = await yjs.decode(content.get_update(), [entry["anchor_start"], entry["anchor_end"]])
    utf16 = [len(TEXT[:i].encode("utf-16-le")) // 2 for i in (start, start + len("aus Köln"))]
    assert got == utf16
    text = content.get("content", type=Text)
    assert anchors.resolve(text, entry["anchor_start"]) == start

    response = await carol.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=200)
    assert response.json()["status"] == "accepted"
    expected = TEXT.replace("aus Köln", proposal)
    for name in ("a", "b", "c"):
        await js.wait_text(name, equals=expected)
    assert await js.converge("a", "b", "c") == expected
    decided = await suggestion(alice, doc, sid)
    assert decided["status"] == "accepted" and decided["decided_by"] == carol.user_id
    async with httpx.AsyncClient() as client:
        exposed = (await client.get(f"{server.http_url}/metrics")).text
    assert 'tandem_assistant_suggestions_total{status="pending"}' in exposed
    assert 'tandem_assistant_decisions_total{action="accepted"}' in exposed
    await js.raw_close("bw")


async def test_editing_the_range_before_accept_makes_it_stale(
    server: TandemProcess, js: YjsClients
) -> None:
    alice, bob, _, doc = await team(server)
    await join(js, server, {"a": alice}, doc)
    await js.insert("a", 0, "eins zwei drei")
    sid = await ask(alice, doc, 5, 9)  # "zwei"
    await wait_status(alice, doc, sid, "pending")
    await js.insert("a", 7, "X")  # zw|X|ei
    response = await bob.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=409)
    assert response.json()["error"]["code"] == "stale"
    assert (await suggestion(alice, doc, sid))["status"] == "stale"
    assert await js.text("a") == "eins zwXei drei"


async def test_double_accept_applies_once(
    server: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    alice, bob, carol, doc = await team(server)
    await join(js, server, {"a": alice}, doc)
    await js.insert("a", 0, "Hallo Welt")
    # The model fences its answer anyway: the fence never reaches the document.
    model.script_for("Welt", Reply(tokens=["```text\n", "Hel", "lo\n", "```"]))
    sid = await ask(alice, doc, 0, 5)
    await wait_status(alice, doc, sid, "pending")
    path = f"/api/docs/{doc}/suggestions/{sid}/accept"
    first, second = await asyncio.gather(bob.request("POST", path), carol.request("POST", path))
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    await js.wait_text("a", equals="Hello Welt")
    assert await js.text("a") == "Hello Welt"


async def test_viewer_cannot_ask_or_decide_and_outsiders_see_nothing(
    server: TandemProcess, js: YjsClients
) -> None:
    alice, _, _, doc = await team(server)
    viewer, outsider = await sign_up(server.http_url), await sign_up(server.http_url)
    ws = (await alice.request("GET", f"/api/docs/{doc}/suggestions", expect=200)).json()
    assert ws["suggestions"] == []
    workspaces = (await alice.request("GET", "/api/workspaces", expect=200)).json()
    ws_id = next(iter(workspaces["workspaces"]))["id"] if "workspaces" in workspaces else None
    assert ws_id is not None
    await alice.add_member(ws_id, viewer, "viewer")
    await join(js, server, {"a": alice}, doc)
    await js.insert("a", 0, "some text")
    await ask(viewer, doc, 0, 4, expect=403)
    await ask(outsider, doc, 0, 4, expect=404)
    sid = await ask(alice, doc, 0, 4)
    await wait_status(alice, doc, sid, "pending")
    await viewer.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=403)
    await viewer.request("POST", f"/api/docs/{doc}/suggestions/{sid}/reject", expect=403)
    await viewer.request("GET", f"/api/docs/{doc}/suggestions", expect=200)
    await outsider.request("GET", f"/api/docs/{doc}/suggestions", expect=404)
    # Nobody writes into the suggestions document through /sync: it is server-only.
    await js.connect("v", server.ws_url, f"{doc}:suggestions", params={"token": alice.token})
    await js.insert("v", 0, "forged")
    await alice.request("POST", f"/api/docs/{doc}/suggestions/{sid}/reject", expect=200)
    await js.connect("w", server.ws_url, f"{doc}:suggestions", params={"token": alice.token})
    board = Doc()
    board.apply_update(await js.encode_state("w"))
    assert str(board.get("content", type=Text)) == ""
    assert board.get("suggestions", type=Map)[sid]["status"] == "rejected"


async def test_a_range_given_as_yjs_relative_positions_from_a_js_client(
    server: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    alice, _, _, doc = await team(server)
    await join(js, server, {"a": alice}, doc)
    text = "👋 Hallo, schöne 🌍 Welt!"
    await js.insert("a", 0, text)
    start, end = text.index("schöne"), text.index(" Welt")
    utf16 = [len(text[:i].encode("utf-16-le")) // 2 for i in (start, end)]
    async with RelPos() as yjs:
        anchor_start, anchor_end = await yjs.encode(
            await js.encode_state("a"), [(utf16[0], 0), (utf16[1], 0)]
        )
    await js.insert("a", 0, "✨")  # the anchors follow the text; offsets would not
    model.script_for("schöne 🌍", Reply("wunderbare 🌎"))
    sid = await ask(
        alice,
        doc,
        0,
        0,
        range={"anchor_start": anchor_start, "anchor_end": anchor_end},
    )
    done = await wait_status(alice, doc, sid, "pending")
    assert done["original"] == "schöne 🌍"
    await alice.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=200)
    await js.wait_text("a", equals="✨👋 Hallo, wunderbare 🌎 Welt!")


async def test_stock_clients_joining_the_suggestions_while_it_streams_miss_nothing(
    server: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    """Joiners of a server-written document arrive between its updates; each must end with all
    of them from the sync alone (the harness's clients never resync on a timer)."""
    alice, bob, _, doc = await team(server)
    await join(js, server, {"a": alice}, doc)
    await js.insert("a", 0, TEXT)
    tokens = [f"w{i} " for i in range(60)]
    model.script_for("aus Köln", Reply(tokens=tokens, rate_per_s=60))
    start = TEXT.index("aus Köln")
    sid = await ask(alice, doc, start, start + len("aus Köln"), instruction="in English")
    joiners = [f"j{i}" for i in range(8)]
    for name in joiners:
        await js.connect(name, server.ws_url, f"{doc}:suggestions", params={"token": bob.token})
    done = await wait_status(bob, doc, sid, "pending")
    assert done["proposal"] == "".join(tokens)
    await js.connect("late", server.ws_url, f"{doc}:suggestions", params={"token": bob.token})
    final = await js.state_vector("late")
    for name in joiners:
        await js.wait_covers(name, final, timeout_ms=5000)
        board = Doc()
        board.apply_update(await js.encode_state(name))
        assert str(board.get("suggestions", type=Map)[sid]["proposal"]) == done["proposal"]
