"""Presence belongs to its connection, with stock Yjs clients against a real `tandem serve`
with accounts: forged presence changes nothing anyone sees, names come from the account,
states browsers cannot parse never reach them."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.sync_endpoint import user_color
from sync.protocol import (
    AwarenessEntry,
    AwarenessMessage,
    QueryAwareness,
    decode,
    decode_awareness,
    encode,
    encode_awareness,
    varbytes,
    varuint,
)
from tests.accounts import Account, members, sign_up, unique_username
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

JWT_SECRET = "presence-tests-secret-0123456789-abcdefghijklmnop"
WEB_COLORS = Path(__file__).resolve().parents[2] / "web" / "src" / "editor" / "colors.ts"


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TandemProcess]:
    env = {"TANDEM_OPEN_ACCESS": "false", "TANDEM_JWT_SECRET": JWT_SECRET}
    async with TandemProcess(tmp_path_factory.mktemp("presence"), env=env) as proc:
        yield proc


def shown(account: Account) -> dict[str, str]:
    """The ``user`` field everyone sees for ``account``."""
    return {"id": account.user_id, "name": account.username, **user_color(account.user_id)}


def presence(client_id: int, clock: int, state: Any) -> bytes:
    text = state if isinstance(state, str) else json.dumps(state)
    return encode(AwarenessMessage(encode_awareness([AwarenessEntry(client_id, clock, text)])))


async def dropped(server: TandemProcess) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{server.http_url}/metrics")).text
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("tandem_awareness_dropped_total{")
    )


async def team(server: TandemProcess) -> tuple[Account, Account, Account, str]:
    """An owner, a viewer and an editor of one new document."""
    owner, viewer, ws = await members(
        server.http_url, unique_username("own"), unique_username("view"), "viewer"
    )
    editor = await sign_up(server.http_url)
    await owner.add_member(ws, editor, "editor")
    return owner, viewer, editor, await owner.create_doc(ws)


async def test_a_viewer_forging_the_owners_presence_changes_nothing_anyone_sees(
    server: TandemProcess, js: YjsClients
) -> None:
    owner, viewer, editor, doc = await team(server)
    owner_id = await js.connect("owner", server.ws_url, doc, params={"token": owner.token})
    await js.connect("editor", server.ws_url, doc, params={"token": editor.token})
    await js.connect("viewer", server.ws_url, doc, params={"token": viewer.token})
    await js.set_awareness("owner", {"user": {"name": "owner"}, "cursor": 5})
    genuine = {"user": shown(owner), "cursor": 5}
    for name in ("editor", "viewer"):
        await js.wait_awareness(name, has=owner_id, state=genuine)

    before = await dropped(server)
    await js.raw_socket("forger", f"{server.ws_url}/{doc}?token={viewer.token}")
    await js.raw_send("forger", presence(4242, 1, {"mark": 1}))
    await js.raw_send("forger", presence(owner_id, 1000, {"user": {"name": "HACKED"}}))
    await js.raw_send("forger", presence(owner_id, 1001, "null"))
    await js.raw_send("forger", presence(4242, 2, {"mark": 2}))
    # The forger's frames are handled in order: once its second mark is seen, so were those.
    marked = {"mark": 2, "user": shown(viewer)}
    seen = await js.wait_awareness("editor", has=4242, state=marked)
    assert seen[owner_id] == genuine
    assert (await js.awareness("viewer"))[owner_id] == genuine
    assert await dropped(server) >= before + 2

    # What the server holds says the same, to a joiner and to a query.
    earlier = len(await js.raw_messages("forger"))
    await js.raw_send("forger", encode(QueryAwareness()))
    frames = (await js.raw_messages("forger", count=earlier + 1))[earlier:]
    replies = [m for m in map(decode, frames) if isinstance(m, AwarenessMessage)]
    last = {e.client_id: json.loads(e.state) for e in decode_awareness(replies[0].payload)}
    assert last[owner_id] == genuine and last[4242] == marked

    # Honest clients kept syncing and nobody was closed.
    await js.insert("owner", 0, "still here")
    await js.wait_text("editor", equals="still here")
    await js.wait_text("viewer", equals="still here")
    for name in ("owner", "editor", "viewer"):
        assert (await js.status(name))["closes"] == []


async def test_a_client_claiming_a_name_is_shown_with_its_accounts_name(
    server: TandemProcess, js: YjsClients
) -> None:
    owner, _viewer, editor, doc = await team(server)
    mallory = await js.connect("mallory", server.ws_url, doc, params={"token": editor.token})
    await js.connect("owner", server.ws_url, doc, params={"token": owner.token})
    claim = {"user": {"id": owner.user_id, "name": owner.username, "color": "#b3261e"}}
    await js.set_awareness("mallory", {**claim, "cursor": {"anchor": 1}})
    seen = await js.wait_awareness(
        "owner", has=mallory, state={"user": shown(editor), "cursor": {"anchor": 1}}
    )
    assert seen[mallory]["user"]["name"] == editor.username
    # The web app's own state (web/src/views/editor.ts) is shown as it sends it.
    await js.set_awareness("mallory", {"user": shown(editor)})
    await js.wait_awareness("owner", has=mallory, state={"user": shown(editor)})


async def test_the_owners_removal_on_close_still_reaches_everyone(
    server: TandemProcess, js: YjsClients
) -> None:
    owner, viewer, editor, doc = await team(server)
    owner_id = await js.connect("owner", server.ws_url, doc, params={"token": owner.token})
    await js.connect("editor", server.ws_url, doc, params={"token": editor.token})
    await js.set_awareness("owner", {"cursor": 1})
    await js.wait_awareness("editor", has=owner_id)
    await js.raw_socket("forger", f"{server.ws_url}/{doc}?token={viewer.token}")
    await js.raw_send("forger", presence(owner_id, 99, "null"))
    await js.connect("late", server.ws_url, doc, params={"token": viewer.token})
    await js.wait_awareness("late", has=owner_id, state={"cursor": 1, "user": shown(owner)})
    assert owner_id in await js.awareness("editor")
    await js.destroy("owner")
    await js.wait_awareness("editor", lacks=owner_id)
    await js.wait_awareness("late", lacks=owner_id)


async def test_a_reconnecting_client_shows_its_presence_again_at_once(
    server: TandemProcess, js: YjsClients
) -> None:
    owner, _viewer, editor, doc = await team(server)
    owner_id = await js.connect("owner", server.ws_url, doc, params={"token": owner.token})
    await js.connect("editor", server.ws_url, doc, params={"token": editor.token})
    state = {"cursor": 3, "user": shown(owner)}
    await js.set_awareness("owner", {"cursor": 3})
    await js.wait_awareness("editor", has=owner_id, state=state)
    await js.disconnect("owner")
    await js.wait_awareness("editor", lacks=owner_id)
    await js.reconnect("owner")
    # Well within the 15 s the stock client takes to renew its state by itself.
    await js.wait_awareness("editor", has=owner_id, state=state, timeout_ms=5000)


@pytest.mark.parametrize("state", ['{"a":NaN}', "[Infinity]", '{"x":-Infinity}', '{"n":1e400}'])
async def test_states_browsers_cannot_parse_are_refused_and_never_reach_them(
    server: TandemProcess, js: YjsClients, state: str
) -> None:
    owner, _viewer, editor, doc = await team(server)
    await js.connect("owner", server.ws_url, doc, params={"token": owner.token})
    await js.connect("editor", server.ws_url, doc, params={"token": editor.token})
    await js.raw_socket("bad", f"{server.ws_url}/{doc}?token={editor.token}")
    frame = encode(
        AwarenessMessage(varuint(1) + varuint(777) + varuint(1) + varbytes(state.encode()))
    )
    await js.raw_send("bad", frame)
    assert (await js.raw_wait_close("bad"))["code"] == 1007
    await js.insert("owner", 0, "after")
    await js.wait_text("editor", equals="after")
    assert 777 not in await js.awareness("editor")
    # Leaving the block checks that no Node client reported an error (a throw in a handler).


def test_the_account_colour_is_the_one_the_web_app_computes() -> None:
    source = WEB_COLORS.read_text()
    script = re.sub(r"\):\s*\{[^}]*\}\s*\{", ") {", source.replace("export ", ""))
    script = script.replace("userId: string", "userId")
    ids = ["u1", "6f1c0d6e-aaaa-4bbb-8ccc-0123456789ab", "x" * 40, "zoë", "\U0001f600"]
    script += f"\nconsole.log(JSON.stringify({json.dumps(ids)}.map(userColor)))"
    result = subprocess.run(
        ["node", "-e", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert json.loads(result.stdout) == [user_color(i) for i in ids]
