"""Access on /sync with stock Yjs clients: viewers read-only, outsiders refused like missing
documents, removal and demotion take effect on open connections, per-connection limits."""

from __future__ import annotations

from pathlib import Path

import httpx

from server.access.models import WorkspaceId
from server.access.sqlite_directory import SqliteDirectory
from sync.protocol import AwarenessMessage, encode, varbytes, varuint
from tests.access.conftest import start
from tests.accounts import Account, sign_up
from tests.server_proc import TandemProcess
from tests.yjs import YjsClientError, YjsClients


async def _dropped_writes(server: TandemProcess) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{server.http_url}/metrics")).text
    for line in text.splitlines():
        if line.startswith("tandem_readonly_writes_dropped_total "):
            return float(line.split()[1])
    raise AssertionError("tandem_readonly_writes_dropped_total not exported")


async def test_viewer_syncs_and_sees_presence_but_cannot_change_the_document(
    server: TandemProcess, js: YjsClients
) -> None:
    owner = await sign_up(server.http_url)
    viewer = await sign_up(server.http_url)
    ws = await owner.create_workspace()
    await owner.add_member(ws, viewer, "viewer")
    doc = await owner.create_doc(ws)
    await js.connect("owner", server.ws_url, doc, params={"token": owner.token})
    await js.insert("owner", 0, "shared text")
    await js.connect("viewer", server.ws_url, doc, params={"token": viewer.token})
    await js.wait_text("viewer", equals="shared text")
    await js.set_awareness("owner", {"cursor": "owner"})
    owner_id = await js.client_id("owner")
    # The server sets who the presence is from (the account), beside what the client says.
    seen = await js.wait_awareness("viewer", has=owner_id)
    shown = {"cursor": "owner", "user": seen[owner_id]["user"]}
    await js.wait_awareness("viewer", has=owner_id, state=shown)
    assert shown["user"]["name"] == owner.username

    dropped_before = await _dropped_writes(server)
    await js.insert("viewer", 0, "VANDAL ")
    await _after_server_handled(js, "viewer", "owner")
    assert await _dropped_writes(server) > dropped_before
    assert await js.text("owner") == "shared text"
    await js.connect("fresh", server.ws_url, doc, params={"token": owner.token})
    assert await js.text("fresh") == "shared text"


_marks = iter(range(1, 1_000_000))


async def _after_server_handled(js: YjsClients, sender: str, observer: str) -> None:
    """Returns once the server has handled everything ``sender`` sent so far: a presence
    change sent after it reaches ``observer`` only once the earlier frames were processed
    (one connection's frames are handled in order)."""
    mark = next(_marks)
    await js.set_awareness(sender, {"mark": mark})
    await js.wait_awareness(observer, has=await js.client_id(sender), includes={"mark": mark})


async def test_outsider_is_refused_like_a_missing_document(
    server: TandemProcess, js: YjsClients
) -> None:
    owner = await sign_up(server.http_url)
    outsider = await sign_up(server.http_url)
    doc = await owner.create_doc(await owner.create_workspace())
    await js.connect("foreign", server.ws_url, doc, params={"token": outsider.token}, synced=False)
    await js.connect(
        "missing", server.ws_url, "no-such-doc", params={"token": outsider.token}, synced=False
    )
    foreign = (await js.wait_closed("foreign"))[0]
    missing = (await js.wait_closed("missing"))[0]
    assert foreign == missing == {"code": 4404, "reason": "no such document"}
    # The stock client treats 44xx as final: it does not hammer the server reconnecting.
    assert len((await js.status("foreign"))["closes"]) == 1


async def _owner_and_editor_connected(
    server: TandemProcess, js: YjsClients
) -> tuple[Account, Account, str]:
    """An owner and an editor of a new document, connected as clients "owner" and "member"."""
    owner = await sign_up(server.http_url)
    member = await sign_up(server.http_url)
    ws = await owner.create_workspace()
    await owner.add_member(ws, member, "editor")
    doc = await owner.create_doc(ws)
    await js.connect("owner", server.ws_url, doc, params={"token": owner.token})
    await js.connect("member", server.ws_url, doc, params={"token": member.token})
    return owner, member, ws


async def test_removed_member_is_disconnected_within_the_recheck_interval(
    server: TandemProcess, js: YjsClients
) -> None:
    owner, member, ws = await _owner_and_editor_connected(server, js)
    await js.insert("member", 0, "hello")
    await js.wait_text("owner", equals="hello")

    await owner.request("DELETE", f"/api/workspaces/{ws}/members/{member.user_id}", expect=204)
    closes = await js.wait_closed("member", timeout_ms=5000)  # recheck every 0.3 s here
    assert closes[0]["code"] == 4403
    await js.insert("owner", 5, " world")
    await js.wait_text("owner", equals="hello world")
    assert (await js.status("owner"))["connected"]


async def test_demoted_editor_becomes_read_only_without_reconnecting(
    server: TandemProcess, js: YjsClients
) -> None:
    owner, member, ws = await _owner_and_editor_connected(server, js)
    await js.insert("member", 0, "a")
    await js.wait_text("owner", equals="a")
    await owner.request(
        "PATCH", f"/api/workspaces/{ws}/members/{member.user_id}", json={"role": "viewer"}
    )
    # Within a few recheck rounds (0.3 s here) the member's writes stop reaching anyone.
    for _ in range(200):
        before = await js.text("owner")
        await js.insert("member", 0, "x")
        await _after_server_handled(js, "member", "owner")
        if await js.text("owner") == before:
            break
    else:
        raise AssertionError("the demoted member could still write")
    status = await js.status("member")
    assert status["connected"] and len(status["closes"]) == 0


async def test_server_only_documents_take_no_client_writes(tmp_path: Path, js: YjsClients) -> None:
    """A workspace's live tree and a document's suggestions are written by the server alone."""
    server = await start(tmp_path)
    try:
        owner = await sign_up(server.http_url)
        ws = await owner.create_workspace()
        async with SqliteDirectory(tmp_path / "accounts.db") as directory:
            await directory.register_doc(f"tree:{ws}", WorkspaceId(ws), server_only=True)
        await js.connect("owner", server.ws_url, f"tree:{ws}", params={"token": owner.token})
        await js.connect("watch", server.ws_url, f"tree:{ws}", params={"token": owner.token})
        dropped = await _dropped_writes(server)
        await js.insert("owner", 0, "forged")
        await _after_server_handled(js, "owner", "watch")
        assert await _dropped_writes(server) > dropped
        assert await js.text("watch") == ""
        await js.connect("other", server.ws_url, f"tree:{ws}", params={"token": owner.token})
        assert await js.text("other") == ""
    finally:
        await server.kill()


async def test_a_client_sending_too_fast_is_closed_alone(tmp_path: Path, js: YjsClients) -> None:
    server = await start(tmp_path, TANDEM_WS_MAX_FRAMES_PER_S="20")
    try:
        owner = await sign_up(server.http_url)
        doc = await owner.create_doc(await owner.create_workspace())
        await js.connect("calm", server.ws_url, doc, params={"token": owner.token})
        await js.raw_socket("flood", f"{server.ws_url}/{doc}?token={owner.token}")
        presence = encode(AwarenessMessage(varuint(1) + varuint(7) + varuint(1) + varbytes(b"{}")))
        for _ in range(60):
            try:
                await js.raw_send("flood", presence)
            except YjsClientError:
                break  # closed by the server already
        closed = await js.raw_wait_close("flood")
        assert closed["code"] == 1008
        await js.insert("calm", 0, "still fine")
        await js.connect("later", server.ws_url, doc, params={"token": owner.token})
        await js.wait_text("later", equals="still fine")
    finally:
        await server.kill()


async def test_connection_setup_cap_refuses_with_try_again_later(
    tmp_path: Path, js: YjsClients
) -> None:
    """A connection that waits past its time for a turn to be authorized gets 1013 (with no
    slot at all, every one does)."""
    server = await start(
        tmp_path, TANDEM_MAX_PENDING_CONNECTIONS="0", TANDEM_SYNC_ADMISSION_WAIT_S="0.2"
    )
    try:
        owner = await sign_up(server.http_url)
        doc = await owner.create_doc(await owner.create_workspace())
        await js.raw_socket("raw", f"{server.ws_url}/{doc}?token={owner.token}")
        assert (await js.raw_wait_close("raw"))["code"] == 1013
    finally:
        await server.kill()


async def test_peers_of_an_unregistered_document_are_closed_by_the_recheck(
    tmp_path: Path, js: YjsClients
) -> None:
    """A document deleted for good elsewhere (another pod) leaves no peer editing a ghost."""
    server = await start(tmp_path, TANDEM_ACCESS_RECHECK_S="0.3")
    try:
        owner = await sign_up(server.http_url)
        doc = await owner.create_doc(await owner.create_workspace())
        await js.connect("owner", server.ws_url, doc, params={"token": owner.token})
        async with SqliteDirectory(tmp_path / "accounts.db") as directory:
            await directory.unregister_doc(doc)
        closes = await js.wait_closed("owner", timeout_ms=5000)
        assert closes[0]["code"] == 4404
    finally:
        await server.kill()


async def test_a_documents_suggestions_open_read_only_before_any_request(
    server: TandemProcess, js: YjsClients
) -> None:
    owner = await sign_up(server.http_url)
    outsider = await sign_up(server.http_url)
    doc = await owner.create_doc(await owner.create_workspace())
    board = f"{doc}:suggestions"
    await js.connect("owner", server.ws_url, board, params={"token": owner.token})
    await js.connect("watch", server.ws_url, board, params={"token": owner.token})
    await js.insert("owner", 0, "forged")
    await _after_server_handled(js, "owner", "watch")
    assert await js.text("watch") == ""
    await js.connect(
        "outsider", server.ws_url, board, params={"token": outsider.token}, synced=False
    )
    assert (await js.wait_closed("outsider"))[0]["code"] == 4404
    await js.connect(
        "none", server.ws_url, "nodoc:suggestions", params={"token": owner.token}, synced=False
    )
    assert (await js.wait_closed("none"))[0]["code"] == 4404
