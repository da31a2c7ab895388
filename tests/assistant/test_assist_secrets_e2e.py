"""Secrets survive a suggestion, end to end on a real ``tandem serve`` with stock Yjs clients:
the model sees placeholders and echoes them, co-editors see the original values stream in,
accepting writes them back, and a placeholder the model made up blocks the accept."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest
from pycrdt import Doc, Map

from assistant.secrets import KINDS
from sync.protocol import SyncStep1, SyncStep2, SyncUpdate, decode, encode
from tests.accounts import Account, sign_up
from tests.assistant.conftest import ask, suggestion, wait_status
from tests.modelserver import Behaviour, ModelServer, Reply
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

BOARD_FIELDS = {
    "id", "doc_id", "mode", "instruction", "anchor_start", "anchor_end", "original",
    "original_sha256", "proposal", "status", "requested_by", "requested_by_name", "decided_by",
    "decided_by_name", "model", "owner", "error", "unrestorable", "warning", "created_at",
    "started_at", "first_token_at", "finished_at", "decided_at",
}  # fmt: skip
"""The layout assistant/board.py documents: nothing else may appear in an entry."""


class EchoingModel(ModelServer):
    """A model that reformats: it answers a request holding a marker with the selection it was
    sent (placeholders and all), transformed, three characters a stream piece, so placeholders
    arrive cut across pieces."""

    def __init__(self) -> None:
        super().__init__()
        self._echoes: list[tuple[str, Callable[[str], str]]] = []

    def echo(self, marker: str, transform: Callable[[str], str]) -> None:
        self._echoes.append((marker, transform))

    def _next(self, body_text: str) -> Behaviour:
        for i, (marker, transform) in enumerate(self._echoes):
            if marker in body_text:
                del self._echoes[i]
                user = json.loads(body_text)["messages"][-1]["content"]
                sent = user.split("<selection>\n", 1)[1].rsplit("\n</selection>", 1)[0]
                answer = transform(sent)
                pieces = [answer[j : j + 3] for j in range(0, len(answer), 3)]
                return Reply(tokens=pieces, rate_per_s=400)
        return super()._next(body_text)


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[EchoingModel]:
    async with EchoingModel() as server:
        yield server


def reformatted(text: str) -> str:
    """What the model does to the text it is sent (a multi-line key is one placeholder there)."""
    return "[service]\n" + text.replace("retries = 3", "retries: 3") + "\n"


async def team(server: TandemProcess) -> tuple[Account, Account, Account, str]:
    alice, bob, carol = [await sign_up(server.http_url) for _ in range(3)]
    ws = await alice.create_workspace()
    await alice.add_member(ws, bob, "editor")
    await alice.add_member(ws, carol, "editor")
    return alice, bob, carol, await alice.create_doc(ws)


async def board_of(js: YjsClients, name: str, server: TandemProcess, doc: str, who: Account) -> Doc:
    """The suggestions document as a stock Yjs client has it after syncing."""
    await js.connect(name, server.ws_url, f"{doc}:suggestions", params={"token": who.token})
    board = Doc()
    board.apply_update(await js.encode_state(name))
    return board


async def test_every_kind_of_secret_is_shown_and_accepted_as_its_original_value(
    server: TandemProcess, model: EchoingModel, js: YjsClients
) -> None:
    alice, bob, carol, doc = await team(server)
    config = "# service config\n" + "\n".join(kind.example for kind in KINDS) + "\nretries = 3"
    for name, who in (("a", alice), ("c", carol)):
        await js.connect(name, server.ws_url, doc, params={"token": who.token})
    await js.insert("a", 0, config)
    await js.converge("a", "c")
    # B watches the suggestions document on a raw socket: every frame a co-editor gets.
    await js.raw_socket("bw", f"{server.ws_url}/{doc}:suggestions?token={bob.token}")
    await js.raw_send("bw", encode(SyncStep1(Doc().get_state())))
    model.echo("reformat-every-kind", reformatted)
    before = len(model.requests)
    sid = await ask(alice, doc, 0, len(config), instruction="reformat-every-kind")
    done = await wait_status(bob, doc, sid, "pending", "failed")
    expected = reformatted(config)
    assert done["status"] == "pending" and done["proposal"] == expected, done
    assert done["unrestorable"] == [] and done["warning"] is None

    prompt = "\n".join(m["content"] for m in model.requests[before].body["messages"])
    for kind in KINDS:
        assert f"[REDACTED:{kind.name}#1]" in prompt
        assert kind.example not in prompt

    replica = Doc()
    seen: list[str] = []
    for frame in await js.raw_messages("bw"):
        message = decode(frame)
        if isinstance(message, SyncUpdate | SyncStep2):
            replica.apply_update(message.update)
            entry = replica.get("suggestions", type=Map).get(sid)
            if isinstance(entry, Map):
                seen.append(str(entry["proposal"]))
    shown = [p for p in dict.fromkeys(seen) if p]
    assert len(shown) >= 3, f"B saw the proposal only as {seen}"
    assert all(expected.startswith(p) for p in shown), "a co-editor saw a placeholder"
    await js.raw_close("bw")

    board = await board_of(js, "bs", server, doc, bob)
    entry = board.get("suggestions", type=Map)[sid]
    assert str(entry["proposal"]) == expected and entry["status"] == "pending"
    assert set(entry.keys()) <= BOARD_FIELDS
    assert b"REDACTED" not in board.get_update(), "the board holds a placeholder"

    await carol.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=200)
    for name in ("a", "c"):
        await js.wait_text(name, equals=expected)
    assert await js.converge("a", "c") == expected


async def test_two_keys_of_one_kind_come_back_in_their_places_when_the_model_swaps_them(
    server: TandemProcess, model: EchoingModel, js: YjsClients
) -> None:
    alice, _, _, doc = await team(server)
    text = "primary = AKIAIOSFODNN7EXAMPLE\nbackup = AKIAJ5QWERTY7EXAMPLE"
    await js.connect("a", server.ws_url, doc, params={"token": alice.token})
    await js.insert("a", 0, text)
    model.echo("swap-the-keys", lambda sent: "\n".join(reversed(sent.split("\n"))))
    sid = await ask(alice, doc, 0, len(text), instruction="swap-the-keys")
    swapped = "backup = AKIAJ5QWERTY7EXAMPLE\nprimary = AKIAIOSFODNN7EXAMPLE"
    done = await wait_status(alice, doc, sid, "pending", "failed")
    assert done["proposal"] == swapped, done
    await alice.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=200)
    await js.wait_text("a", equals=swapped)


@pytest.mark.parametrize(
    ("marker", "mangled"),
    [
        ("never-issued", "[REDACTED:aws_access_key#2]"),
        ("kind-altered", "[REDACTED:aws_key#1]"),
        ("number-dropped", "[REDACTED:aws_access_key]"),
    ],
)
async def test_a_placeholder_the_model_made_up_blocks_accept_and_leaves_the_text(
    server: TandemProcess, model: ModelServer, js: YjsClients, marker: str, mangled: str
) -> None:
    alice, bob, _, doc = await team(server)
    text = "key = AKIAIOSFODNN7EXAMPLE\nother = 1"
    await js.connect("a", server.ws_url, doc, params={"token": alice.token})
    await js.insert("a", 0, text)
    answer = f"key: [REDACTED:aws_access_key#1]\nother: {mangled}"
    pieces = [answer[i : i + 4] for i in range(0, len(answer), 4)]
    model.script_for(marker, Reply(tokens=pieces))  # the instruction must not hold it: it
    sid = await ask(alice, doc, 0, len(text), instruction=marker)  # would be literal text
    done = await wait_status(alice, doc, sid, "pending", "failed")
    assert done["proposal"] == f"key: AKIAIOSFODNN7EXAMPLE\nother: {mangled}", done
    assert done["unrestorable"] == [mangled] and mangled in done["warning"]

    refused = await bob.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=409)
    error = refused.json()["error"]
    assert error["code"] == "unrestorable_secret" and mangled in error["message"]
    report = await bob.request("POST", f"/api/docs/{doc}/suggestions/accept-all", expect=200)
    assert report.json()["unrestorable"] == [sid] and report.json()["applied"] == []
    after = await suggestion(alice, doc, sid)
    assert after["status"] == "pending" and after["decided_by"] is None
    assert await js.text("a") == text
    board = await board_of(js, "bs", server, doc, bob)
    assert board.get("suggestions", type=Map)[sid]["status"] == "pending"
    await bob.request("POST", f"/api/docs/{doc}/suggestions/{sid}/reject", expect=200)
    assert await js.text("a") == text
