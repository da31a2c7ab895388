"""Threads end to end on a real ``tandem serve`` (embedded: SQLite, in-process workers) with the
scripted model server: members talk with the assistant, answers stream into the thread's live
document for every member, the model sees the conversation in order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import websockets
from pycrdt import Map

from assistant.threads import live
from tests.accounts import Account, sign_up
from tests.modelserver import Fail, ModelServer, Reply
from tests.pyclient import PyClient
from tests.server_proc import TandemProcess


async def team(server: TandemProcess) -> tuple[Account, Account, Account, str]:
    alice, bob, carol = [await sign_up(server.http_url) for _ in range(3)]
    ws = await alice.create_workspace()
    await alice.add_member(ws, bob, "editor")
    await alice.add_member(ws, carol, "viewer")
    return alice, bob, carol, ws


async def new_thread(account: Account, ws: str, **body: Any) -> dict[str, Any]:
    response = await account.request(
        "POST", f"/api/workspaces/{ws}/threads", json={"title": "Q", **body}, expect=201
    )
    return dict(response.json())


async def post(account: Account, ws: str, tid: str, text: str, **body: Any) -> dict[str, Any]:
    response = await account.request(
        "POST",
        f"/api/workspaces/{ws}/threads/{tid}/messages",
        json={"text": text, **body},
        expect=201,
    )
    return dict(response.json())


async def messages(account: Account, ws: str, tid: str, query: str = "") -> dict[str, Any]:
    response = await account.request(
        "GET", f"/api/workspaces/{ws}/threads/{tid}/messages{query}", expect=200
    )
    return dict(response.json())


async def settled(account: Account, ws: str, tid: str, answer_id: str) -> dict[str, Any]:
    """Polls the stored answer until it is no longer streaming (bounded)."""
    deadline = time.monotonic() + 15
    while True:
        found = {m["id"]: m for m in (await messages(account, ws, tid))["messages"]}
        if found[answer_id]["status"] != "streaming":
            return found[answer_id]
        assert time.monotonic() < deadline, found[answer_id]
        await asyncio.sleep(0.02)  # polling an HTTP resource with a deadline


def live_messages(client: PyClient) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in live.read(client.doc)["messages"]}


async def test_an_answer_streams_to_every_member_and_sees_the_conversation_in_order(
    server: TandemProcess, model: ModelServer
) -> None:
    alice, bob, carol, ws = await team(server)
    thread = await new_thread(alice, ws, title="Parsing")
    tid = thread["id"]
    url = f"{server.ws_url}/{thread['live_doc']}?token={carol.token}"
    async with PyClient(url) as watcher:  # the viewer watches live
        await post(alice, ws, tid, "Where do we parse the config?")
        tokens = ["In ", "server/", "settings", ".py, ", "Settings.load."]
        model.script_for("parse the config", Reply(tokens=tokens, rate_per_s=20))
        sent = await post(bob, ws, tid, "@assistant answer Alice please")
        answer = sent["answer"]
        assert answer["status"] == "streaming" and answer["reply_to"] == sent["message"]["id"]

        # The viewer sees part of the answer while it still streams, then all of it.
        await watcher.wait_for(
            lambda: (
                (m := live_messages(watcher).get(answer["id"])) is not None
                and m["status"] == "streaming"
                and 0 < len(m["text"]) < len("".join(tokens))
            )
        )
        await watcher.wait_for(
            lambda: live_messages(watcher).get(answer["id"], {}).get("status") == "done"
        )
        shown = live_messages(watcher)
        assert shown[answer["id"]]["text"] == "".join(tokens)
        assert [m["author_name"] for m in sorted(shown.values(), key=lambda m: m["seq"])] == [
            alice.username,
            bob.username,
            "assistant",
        ]
    stored = await settled(alice, ws, tid, answer["id"])
    assert stored["text"] == "".join(tokens) and stored["model"] == "test-model"

    [request] = [r for r in model.requests if "parse the config" in r.text]
    turns = request.body["messages"]
    assert turns[0]["role"] == "system"
    assert turns[1:] == [
        {"role": "user", "content": f"{alice.username}: Where do we parse the config?"},
        {"role": "user", "content": f"{bob.username}: @assistant answer Alice please"},
    ]

    # The next question carries the answer as the assistant's own turn.
    model.script_for("And the defaults?", Reply("In the dataclass."))
    follow = await post(alice, ws, tid, "And the defaults?", ask=True)
    await settled(alice, ws, tid, follow["answer"]["id"])
    [second] = [r for r in model.requests if "And the defaults?" in r.text]
    assert second.body["messages"][3] == {"role": "assistant", "content": "".join(tokens)}
    assert second.body["messages"][-1]["content"].endswith(": And the defaults?")


async def test_without_a_mention_nobody_answers_unless_the_thread_answers_every_message(
    server: TandemProcess, model: ModelServer
) -> None:
    alice, _, _, ws = await team(server)
    quiet = await new_thread(alice, ws)
    sent = await post(alice, ws, quiet["id"], "a note to the team, not to @assistants")
    assert sent["answer"] is None
    chatty = await new_thread(alice, ws, answer_every=True)
    model.script_for("every message", Reply("Noted."))
    sent = await post(alice, ws, chatty["id"], "every message gets an answer here")
    assert (await settled(alice, ws, chatty["id"], sent["answer"]["id"]))["text"] == "Noted."


async def test_the_attached_document_and_selection_reach_the_model(
    server: TandemProcess, model: ModelServer
) -> None:
    alice, _, _, ws = await team(server)
    doc = await alice.create_doc(ws)
    text = "def load():\n    return parse(read('tandem.toml'))\n"
    async with PyClient(f"{server.ws_url}/{doc}?token={alice.token}") as editor:
        await editor.insert(0, text)
        thread = await new_thread(alice, ws, doc_id=doc)
        model.script_for("why this line", Reply("It reads the file."))
        start = text.index("return")
        end = text.index("\n", start)
        sent = await post(
            alice,
            ws,
            thread["id"],
            "why this line?",
            ask=True,
            selection={"start": start, "end": end},
        )
        await settled(alice, ws, thread["id"], sent["answer"]["id"])
    [request] = [r for r in model.requests if "why this line" in r.text]
    system = request.body["messages"][0]["content"]
    assert "<selection>return parse(read('tandem.toml'))</selection>" in system
    assert "def load():" in system


async def test_stop_keeps_what_streamed_and_a_failure_ends_the_answer(
    server: TandemProcess, model: ModelServer
) -> None:
    alice, bob, _, ws = await team(server)
    thread = await new_thread(alice, ws)
    tid = thread["id"]
    model.script_for("a long story", Reply(tokens=["Once "] + ["upon "] * 200, rate_per_s=20))
    url = f"{server.ws_url}/{thread['live_doc']}?token={alice.token}"
    async with PyClient(url) as watcher:
        sent = await post(alice, ws, tid, "@assistant tell a long story")
        answer_id = sent["answer"]["id"]
        await watcher.wait_for(
            lambda: "upon" in live_messages(watcher).get(answer_id, {}).get("text", "")
        )
        stop = f"/api/workspaces/{ws}/threads/{tid}/messages/{answer_id}/stop"
        stopped = (await bob.request("POST", stop, expect=200)).json()
        assert stopped["status"] == "stopped" and stopped["text"].startswith("Once upon")
        again = await bob.request("POST", stop, expect=409)
        assert again.json()["error"]["code"] == "already_stopped"
    final = await settled(alice, ws, tid, answer_id)
    assert final["status"] == "stopped" and final["text"].startswith("Once upon")
    assert len(final["text"]) < len("Once " + "upon " * 200)

    model.script_for("this fails", Fail(status=500), Fail(status=500))  # and its retry
    failing = await post(alice, ws, tid, "@assistant this fails")
    ended = await settled(alice, ws, tid, failing["answer"]["id"])
    assert ended["status"] == "failed" and "500" in ended["error"]


async def test_members_read_editors_post_authors_change_their_own(server: TandemProcess) -> None:
    alice, bob, carol, ws = await team(server)
    stranger = await sign_up(server.http_url)
    thread = await new_thread(alice, ws)
    tid = thread["id"]
    base = f"/api/workspaces/{ws}/threads/{tid}"
    mine = (await post(alice, ws, tid, "first draft"))["message"]

    await carol.request("POST", base + "/messages", json={"text": "hi"}, expect=403)
    await carol.request("POST", f"/api/workspaces/{ws}/threads", json={}, expect=403)
    assert [m["text"] for m in (await messages(carol, ws, tid))["messages"]] == ["first draft"]
    await stranger.request("GET", base, expect=404)
    await stranger.request("GET", base + "/messages", expect=404)

    await bob.request("PATCH", f"{base}/messages/{mine['id']}", json={"text": "x"}, expect=403)
    await bob.request("DELETE", f"{base}/messages/{mine['id']}", expect=403)
    edited = await alice.request(
        "PATCH", f"{base}/messages/{mine['id']}", json={"text": "second draft"}, expect=200
    )
    assert edited.json()["text"] == "second draft" and edited.json()["edited_at"]
    async with PyClient(f"{server.ws_url}/{thread['live_doc']}?token={bob.token}") as watcher:
        await watcher.wait_for(
            lambda: live_messages(watcher).get(mine["id"], {}).get("text") == "second draft"
        )
        await alice.request("DELETE", f"{base}/messages/{mine['id']}", expect=200)
        await watcher.wait_for(
            lambda: live_messages(watcher)[mine["id"]].get("deleted_at") is not None
        )
        assert live_messages(watcher)[mine["id"]]["text"] == ""
        # Nobody writes the live document but the server.
        before = live.read(watcher.doc)
        await watcher.insert(0, "forged")
    [stored] = (await messages(bob, ws, tid))["messages"]
    assert stored["text"] == "" and stored["deleted_at"] is not None
    async with PyClient(f"{server.ws_url}/{thread['live_doc']}?token={alice.token}") as fresh:
        await fresh.wait_for(lambda: bool(live.read(fresh.doc)["messages"]))
        assert live.read(fresh.doc) == before and str(fresh.text) == ""


async def test_messages_page_back_without_gaps(server: TandemProcess) -> None:
    alice, _, _, ws = await team(server)
    tid = (await new_thread(alice, ws))["id"]
    for i in range(7):
        await post(alice, ws, tid, f"message {i}")
    seen: list[str] = []
    query = "?limit=3"
    while True:
        page = await messages(alice, ws, tid, query)
        seen = [m["text"] for m in page["messages"]] + seen
        if page["before"] is None:
            break
        query = f"?limit=3&before={page['before']}"
    assert seen == [f"message {i}" for i in range(7)]


async def test_bad_input_is_a_clear_4xx_and_changes_nothing(server: TandemProcess) -> None:
    alice, _, _, ws = await team(server)
    other_ws = await alice.create_workspace("Other")
    foreign_doc = await alice.create_doc(other_ws)
    tid = (await new_thread(alice, ws))["id"]
    base = f"/api/workspaces/{ws}/threads"
    refused = await alice.request("POST", base, json={"doc_id": foreign_doc}, expect=400)
    assert refused.json()["error"]["code"] == "invalid_doc"
    await alice.request("POST", base, json={"answer_every": "yes"}, expect=400)
    await alice.request("POST", f"{base}/{tid}/messages", json={"text": ""}, expect=400)
    await alice.request("POST", f"{base}/{tid}/messages", json={"text": " \u200b "}, expect=400)
    await alice.request("GET", f"{base}/{tid}/messages?limit=0", expect=400)
    await alice.request("GET", f"{base}/{tid}/messages?before=x", expect=400)
    await alice.request("GET", f"{base}/nope/messages", expect=404)
    assert (await messages(alice, ws, tid))["messages"] == []
    listed = (await alice.request("GET", base, expect=200)).json()["threads"]
    assert [t["id"] for t in listed] == [tid]


async def test_an_answer_draws_on_the_workspaces_files_and_cites_them(
    server: TandemProcess, model: ModelServer
) -> None:
    """Issue 24.3: the passage that answers the question, found among many files of the
    asker's workspace (never another's), reaches the model numbered; the answer's [n] becomes
    a citation naming the file and its lines."""
    from tests.search.helpers import new_file

    alice, _, _, ws = await team(server)
    for n in range(40):
        await new_file(alice, ws, f"page{n}.py", f"def render_{n}(page):\n    return page\n")
    body = "\n".join(f"# note {n}" for n in range(1, 60)) + "\ndef load_settings(path):\n"
    target = await new_file(alice, ws, "settings.py", body + "    return toml(path)\n")
    other = await sign_up(server.http_url)
    theirs = await other.create_workspace()
    await new_file(other, theirs, "secret_plan.py", "def load_settings(): return 'theirs'\n")

    thread = await new_thread(alice, ws)
    model.script_for("load_settings", Reply("It is in settings.py [1]."))
    sent = await post(alice, ws, thread["id"], "@assistant where is load_settings defined?")
    answer = await settled(alice, ws, thread["id"], sent["answer"]["id"])

    [request] = [r for r in model.requests if "where is load_settings" in r.text]
    system = request.body["messages"][0]["content"]
    assert '<passage n="1" path="settings.py"' in system
    assert "60: def load_settings(path):" in system
    assert "secret_plan" not in system and "theirs" not in system
    [cited] = answer["citations"]
    assert cited["n"] == 1 and cited["path"] == "settings.py"
    assert cited["file_id"] == target["id"] and cited["doc_id"] == target["doc_id"]
    assert cited["start_line"] <= 60 <= cited["end_line"]


async def test_an_answer_left_by_a_killed_server_ends_failed_not_streaming_forever(
    tmp_path: Path, model: ModelServer
) -> None:
    """Issue 24.6: embedded, the queue lived in the killed process, so no worker can take the
    answer over; once it has streamed past every attempt's time, the next read ends it."""
    from assistant.threads.service import ABANDONED
    from tests.assistant.conftest import server_env

    env = server_env(
        model, TANDEM_OPENAI_TOTAL_TIMEOUT_S="1", TANDEM_ASSISTANT_RECLAIM_IDLE_S="0.5"
    )
    first = await TandemProcess(tmp_path / "data", env=env).start()
    try:
        alice = await sign_up(first.http_url)
        ws = await alice.create_workspace()
        thread = await new_thread(alice, ws)
        model.script_for("outlive the server", Reply(tokens=["slow "] * 100, rate_per_s=5))
        sent = await post(alice, ws, thread["id"], "@assistant outlive the server")
        async with asyncio.timeout(10):
            while not any("outlive the server" in r.text for r in model.requests):
                await asyncio.sleep(0.02)  # polling the model server's log with a deadline
    finally:
        await first.kill()
    async with TandemProcess(tmp_path / "data", env=env, port=first.port) as again:
        alice.base_url = again.http_url
        ended = await settled(alice, ws, thread["id"], sent["answer"]["id"])
        url = f"{again.ws_url}/{thread['live_doc']}?token={alice.token}"
        async with PyClient(url) as watcher:  # the live view says so too
            await watcher.wait_for(
                lambda: (
                    live_messages(watcher).get(sent["answer"]["id"], {}).get("status") == "failed"
                )
            )
    # Ended by the read, not by the model's timeout: the server died before that.
    assert ended["status"] == "failed" and ended["error"] == ABANDONED


async def test_members_vote_on_an_answer_and_regenerate_it_beside_the_first(
    server: TandemProcess, model: ModelServer
) -> None:
    """Issue 24.5 in part: one vote per member, counts live for everyone; a regenerated
    answer replies to the same question without seeing the answer it is an alternative to."""
    alice, bob, carol, ws = await team(server)
    thread = await new_thread(alice, ws)
    tid = thread["id"]
    model.script_for("name the release", Reply("Call it Otter."), Reply("Call it Heron."))
    sent = await post(alice, ws, tid, "@assistant name the release")
    first = await settled(alice, ws, tid, sent["answer"]["id"])
    feedback = f"/api/workspaces/{ws}/threads/{tid}/messages/{first['id']}/feedback"

    url = f"{server.ws_url}/{thread['live_doc']}?token={carol.token}"
    async with PyClient(url) as watcher:
        await alice.request("PUT", feedback, json={"value": "up"}, expect=200)
        await alice.request("PUT", feedback, json={"value": "down"}, expect=200)  # changed
        voted = (await bob.request("PUT", feedback, json={"value": "down"}, expect=200)).json()
        assert voted["feedback"] == {"up": 0, "down": 2} and "votes" not in voted
        await watcher.wait_for(
            lambda: (
                live_messages(watcher).get(first["id"], {}).get("feedback")
                == '{"up": 0, "down": 2}'
            )
        )
    cleared = (await bob.request("PUT", feedback, json={"value": None}, expect=200)).json()
    assert cleared["feedback"] == {"up": 0, "down": 1}
    await carol.request("PUT", feedback, json={"value": "up"}, expect=403)  # a viewer
    question = f"/api/workspaces/{ws}/threads/{tid}/messages/{sent['message']['id']}/feedback"
    await alice.request("PUT", question, json={"value": "up"}, expect=404)  # not an answer
    await alice.request("PUT", feedback, json={"value": "meh"}, expect=400)

    again = f"/api/workspaces/{ws}/threads/{tid}/messages/{first['id']}/regenerate"
    second = (await bob.request("POST", again, expect=201)).json()["answer"]
    assert second["reply_to"] == sent["message"]["id"] and second["id"] != first["id"]
    done = await settled(alice, ws, tid, second["id"])
    assert done["text"] == "Call it Heron."
    [_, retry] = [r for r in model.requests if "name the release" in r.text]
    assert not any(m["role"] == "assistant" for m in retry.body["messages"])
    stored = {m["id"]: m for m in (await messages(alice, ws, tid))["messages"]}
    assert stored[first["id"]]["text"] == "Call it Otter."  # the first is kept beside it
    assert "prompt" not in stored[first["id"]] and "votes_at" not in stored[first["id"]]
    await carol.request("POST", again, expect=403)

    # Alice prefers the second; the count is live, who chose what stays in the record.
    prefer = f"/api/workspaces/{ws}/threads/{tid}/messages/{second['id']}/preferred"
    async with PyClient(url) as watcher:
        chosen = (await alice.request("PUT", prefer, json={"value": True}, expect=200)).json()
        assert chosen["question"]["preferred"] == {second["id"]: 1}
        assert "preferences" not in chosen["question"]
        await watcher.wait_for(
            lambda: live_messages(watcher).get(second["id"], {}).get("preferred") == 1.0
        )
    other = f"/api/workspaces/{ws}/threads/{tid}/messages/{first['id']}/preferred"
    await bob.request("PUT", other, json={"value": True}, expect=200)
    moved = (await alice.request("PUT", other, json={"value": True}, expect=200)).json()
    assert moved["question"]["preferred"] == {first["id"]: 2}  # one choice per member
    kept = (await alice.request("PUT", prefer, json={"value": False}, expect=200)).json()
    assert kept["question"]["preferred"] == {first["id"]: 2}  # not hers to take back
    await carol.request("PUT", prefer, json={"value": True}, expect=403)
    await alice.request("PUT", prefer, json={"value": "yes"}, expect=400)
    model.script_for("only once", Reply("Once."))
    lone = await post(alice, ws, tid, "@assistant only once")
    await settled(alice, ws, tid, lone["answer"]["id"])
    single = f"/api/workspaces/{ws}/threads/{tid}/messages/{lone['answer']['id']}/preferred"
    refused = await alice.request("PUT", single, json={"value": True}, expect=409)
    assert refused.json()["error"]["code"] == "no_alternative"


async def test_the_workspaces_thread_list_document_moves_with_new_threads_and_messages(
    server: TandemProcess,
) -> None:
    """The list's live document: a thread id with its updated_at, for members only."""
    alice, _, carol, ws = await team(server)
    listed = (await carol.request("GET", f"/api/workspaces/{ws}/threads", expect=200)).json()
    assert listed["threads"] == [] and listed["live_doc"] == f"{ws}:threads"
    url = f"{server.ws_url}/{listed['live_doc']}?token={carol.token}"
    async with PyClient(url) as watcher:
        threads = watcher.doc.get("threads", type=Map)
        tid = (await new_thread(alice, ws))["id"]
        await watcher.wait_for(lambda: tid in threads)
        created = threads[tid]
        await post(alice, ws, tid, "a new message")
        await watcher.wait_for(lambda: threads[tid] > created)
    outsider = await sign_up(server.http_url)
    foreign = f"{server.ws_url}/{listed['live_doc']}?token={outsider.token}"
    async with websockets.connect(foreign) as ws_conn:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws_conn.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code in (4403, 4404)
