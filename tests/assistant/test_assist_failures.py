"""Model failures end a suggestion as failed with a reason everyone sees, and the worker goes on
serving; secrets never reach the model; cancel and accept-all over HTTP."""

from __future__ import annotations

import pytest

from tests.accounts import Account, sign_up
from tests.assistant.conftest import ask, suggestion, wait_status, wait_until
from tests.modelserver import Cut, Fail, Hang, Malformed, ModelServer, Reply
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GH_TOKEN = "ghp_" + "Zq9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa"
PASSWORD = "Tr0ub4dor&3xyz"
RANDOM_KEY = "q8Zr2LmX0vT7nW4kYb9PdH3s"


async def one_doc(server: TandemProcess, js: YjsClients, text: str) -> tuple[Account, str]:
    alice = await sign_up(server.http_url)
    doc = await alice.create_doc(await alice.create_workspace())
    await js.connect("a", server.ws_url, doc, params={"token": alice.token})
    await js.insert("a", 0, text)
    return alice, doc


@pytest.mark.parametrize(
    ("behaviours", "reason"),
    [
        ([Hang(5), Hang(5)], "did not answer within"),
        ([Fail(429, retry_after=0.2), Fail(429, retry_after=0.2)], "rate limited (429)"),
        ([Fail(500), Fail(500)], "HTTP 500"),
        ([Malformed()], "malformed response"),
        ([Cut()], "the model"),
    ],
    ids=["timeout", "429", "500", "malformed", "cut"],
)
async def test_model_failure_fails_the_suggestion_with_a_reason_and_the_worker_serves_on(
    server: TandemProcess,
    model: ModelServer,
    js: YjsClients,
    behaviours: list[object],
    reason: str,
) -> None:
    alice, doc = await one_doc(server, js, "alpha beta gamma")
    model.script_for("alpha", *behaviours)  # type: ignore[arg-type]
    sid = await ask(alice, doc, 0, 5)
    failed = await wait_status(alice, doc, sid, "failed", "pending")
    assert failed["status"] == "failed", failed
    assert reason in failed["error"]
    model.script_for("gamma", Reply("GAMMA"))
    again = await ask(alice, doc, 11, 16)
    done = await wait_status(alice, doc, again, "pending", "failed")
    assert done["proposal"] == "GAMMA"


async def test_retry_after_429_then_success(
    server: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    alice, doc = await one_doc(server, js, "retry me please")
    model.script_for("retry me", Fail(429, retry_after=0.5), Reply("done"))
    before = len(model.requests)
    sid = await ask(alice, doc, 0, 8)
    done = await wait_status(alice, doc, sid, "pending", "failed")
    assert done["status"] == "pending" and done["proposal"] == "done"
    mine = [r for r in model.requests[before:] if "retry me" in r.text]
    assert len(mine) == 2
    assert mine[1].received_at - mine[0].received_at >= 0.45


async def test_secrets_in_the_document_never_reach_the_model(
    server: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    text = (
        f"# settings\nAWS_ACCESS_KEY_ID={AWS_KEY}\npassword = '{PASSWORD}'\n"
        f"token: {GH_TOKEN}\nseed = {RANDOM_KEY}\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n"
        "-----END PRIVATE KEY-----\ndef handler(event):\n    return event\n"
    )
    alice, doc = await one_doc(server, js, text)
    model.script_for("handler", Reply("def handler(event):\n    return dict(event)\n"))
    before = len(model.requests)
    start = text.index("def handler")
    sid = await ask(alice, doc, 0, len(text), instruction=f"use {GH_TOKEN} here", mode="fix")
    await wait_status(alice, doc, sid, "pending")
    sid2 = await ask(alice, doc, start, len(text))  # the secrets only in the context before
    await wait_status(alice, doc, sid2, "pending")
    sent = [r.text for r in model.requests[before:]]
    assert len(sent) == 2
    for body in sent:
        for secret in (AWS_KEY, PASSWORD, GH_TOKEN, RANDOM_KEY, "MIIEvQIBADANBg"):
            assert secret not in body
        assert "[REDACTED:" in body
    assert "def handler" in sent[1]


async def test_cancel_stops_a_streaming_suggestion(
    server: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    alice, doc = await one_doc(server, js, "slow stream here")
    model.script_for("stream here", Reply(tokens=["x"] * 200, rate_per_s=20))
    sid = await ask(alice, doc, 0, 4)
    streaming = await wait_until(alice, doc, sid, lambda s: bool(s["proposal"]))
    response = await alice.request("DELETE", f"/api/docs/{doc}/suggestions/{sid}", expect=200)
    assert response.json()["status"] == "cancelled" and streaming["status"] == "streaming"
    ended = await suggestion(alice, doc, sid)
    assert ended["status"] == "cancelled"
    await alice.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=409)
    await alice.request("DELETE", f"/api/docs/{doc}/suggestions/{sid}", expect=409)
    assert len(ended["proposal"]) < 200
    assert await js.text("a") == "slow stream here"


async def test_accept_all_reports_applied_overlapping_and_stale(
    server: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    alice, doc = await one_doc(server, js, "one two three four")
    ids = {}
    for word, start, end in (("one", 0, 3), ("two", 4, 7), ("two three", 4, 13), ("four", 14, 18)):
        model.script_for(f"<selection>\\n{word}\\n", Reply(word.upper()))
        ids[word] = await ask(alice, doc, start, end)
        await wait_status(alice, doc, ids[word], "pending")
    await js.insert("a", 16, "u")  # "fouur": the "four" suggestion goes stale
    report = (
        await alice.request("POST", f"/api/docs/{doc}/suggestions/accept-all", expect=200)
    ).json()
    assert sorted(report["applied"]) == sorted([ids["one"], ids["two"]])
    assert report["overlapping"] == [ids["two three"]]
    assert report["stale"] == [ids["four"]]
    await js.wait_text("a", equals="ONE TWO three fouur")
    statuses = {w: (await suggestion(alice, doc, s))["status"] for w, s in ids.items()}
    assert statuses == {
        "one": "accepted",
        "two": "accepted",
        "two three": "pending",
        "four": "stale",
    }


async def test_editing_the_range_while_it_streams_stops_the_stream_as_stale(
    server: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    alice, doc = await one_doc(server, js, "keep this part intact")
    model.script_for("part intact", Reply(tokens=["y"] * 300, rate_per_s=30))
    sid = await ask(alice, doc, 0, 9)  # "keep this"
    await wait_until(alice, doc, sid, lambda s: bool(s["proposal"]))
    await js.insert("a", 5, "all of ")  # keep |all of |this
    stale = await wait_status(alice, doc, sid, "stale", "pending")
    assert stale["status"] == "stale" and "edited" in stale["error"]
    assert len(stale["proposal"]) < 300
    await alice.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=409)
    assert await js.text("a") == "keep all of this part intact"


async def test_explanations_are_not_applied(
    server: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    alice, doc = await one_doc(server, js, "x = y ** 2")
    model.script_for("y ** 2", Reply("It squares y."))
    sid = await ask(alice, doc, 0, 10, mode="explain", instruction="what is this")
    done = await wait_status(alice, doc, sid, "pending")
    assert done["proposal"] == "It squares y." and done["mode"] == "explain"
    response = await alice.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=409)
    assert response.json()["error"]["code"] == "not_acceptable"
    await alice.request("POST", f"/api/docs/{doc}/suggestions/{sid}/reject", expect=200)
    assert await js.text("a") == "x = y ** 2"


async def test_bad_requests_are_refused(server: TandemProcess, js: YjsClients) -> None:
    alice, doc = await one_doc(server, js, "short")
    await ask(alice, doc, 0, 99, expect=400)  # outside the text
    await ask(alice, doc, 3, 3, expect=400)  # rewrite needs a selection
    await ask(alice, doc, 0, 2, expect=400, mode="summon")
    await ask(alice, doc, 0, 2, expect=400, range={"anchor_start": "!!", "anchor_end": "AA=="})
    await alice.request("POST", f"/api/docs/{doc}/suggestions/nope/accept", expect=404)


async def test_workspace_instructions_reach_the_model_and_only_owners_set_them(
    server: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    alice, doc = await one_doc(server, js, "colour of the sky")
    workspaces = (await alice.request("GET", "/api/workspaces", expect=200)).json()
    ws = workspaces["workspaces"][-1]["id"]
    editor = await sign_up(server.http_url)
    await alice.add_member(ws, editor, "editor")
    path = f"/api/workspaces/{ws}/assistant"
    await editor.request("PUT", path, json={"instructions": "Be rude."}, expect=403)
    await alice.request(
        "PUT", path, json={"instructions": "Always use British\u200b spelling."}, expect=200
    )
    got = (await editor.request("GET", path, expect=200)).json()
    assert got == {"instructions": "Always use British spelling."}
    model.script_for("of the sky", Reply("colour"))
    before = len(model.requests)
    sid = await ask(editor, doc, 0, 6)
    await wait_status(editor, doc, sid, "pending")
    sent = [r for r in model.requests[before:] if "of the sky" in r.text]
    assert "Always use British spelling." in sent[0].body["messages"][0]["content"]
