"""An answer's code blocks become one set of pending suggestions on a real ``tandem serve``
with the scripted model: seen live on each file's board by another member, accepted together,
a file edited meanwhile makes its own suggestion stale while the other still applies."""

from __future__ import annotations

import asyncio
from typing import Any

from assistant import board
from tests.accounts import Account
from tests.assistant.threads.test_threads_e2e import new_thread, post, settled, team
from tests.modelserver import ModelServer, Reply
from tests.pyclient import PyClient
from tests.server_proc import TandemProcess

APP = "def load(path):\n    return open(path).read()\n\ndef main():\n    print(load('a'))\n"
README = "# Tandem\n\nRun it with tandem serve.\n"
ANSWER = (
    "Two changes:\n\n```python path=app.py\ndef load(path):\n"
    "    return open(path, encoding='utf-8').read()\n```\n\n"
    "```markdown path=README.md lines=3-3\nRun it with `tandem serve --port 8000`.\n```\n"
    "```python path=missing.py\nx = 1\n```\n"
)


async def text_file(account: Account, ws: str, name: str, text: str) -> dict[str, Any]:
    response = await account.request(
        "POST", f"/api/workspaces/{ws}/drive/files", json={"name": name, "text": text}, expect=201
    )
    return dict(response.json())


async def content(account: Account, ws: str, file_id: str) -> str:
    response = await account.request(
        "GET", f"/api/workspaces/{ws}/drive/entries/{file_id}/content", expect=200
    )
    return str(response.text)


async def answered(
    server: TandemProcess, model: ModelServer, question: str
) -> tuple[Account, Account, Account, str, str, str, dict[str, dict[str, Any]]]:
    alice, bob, carol, ws = await team(server)
    files = {
        "app.py": await text_file(alice, ws, "app.py", APP),
        "README.md": await text_file(alice, ws, "README.md", README),
    }
    tid = (await new_thread(alice, ws))["id"]
    model.script_for(question, Reply(ANSWER))
    answer = (await post(alice, ws, tid, f"@assistant {question}"))["answer"]
    await settled(alice, ws, tid, answer["id"])
    return alice, bob, carol, ws, tid, answer["id"], files


async def test_an_answer_for_two_files_applies_as_one_set_and_accepts_together(
    server: TandemProcess, model: ModelServer
) -> None:
    alice, bob, carol, ws, tid, mid, files = await answered(server, model, "fix the encoding")
    base = f"/api/workspaces/{ws}/threads/{tid}/messages/{mid}"
    edits = (await carol.request("GET", base + "/edits", expect=200)).json()["edits"]
    assert [(e["block"], e["path"], e["start_line"], e["end_line"]) for e in edits] == [
        (0, "app.py", 1, 2),
        (1, "README.md", 3, 3),
        (2, "missing.py", None, None),
    ]
    assert edits[0]["doc_id"] == files["app.py"]["doc_id"] and edits[0]["problem"] is None
    assert "no text file" in edits[2]["problem"]

    await carol.request("POST", base + "/apply", json={"all": True}, expect=403)
    refused = await bob.request("POST", base + "/apply", json={"blocks": [2]}, expect=400)
    assert refused.json()["error"]["code"] == "invalid_block"
    await bob.request("POST", base + "/apply", json={"blocks": [7]}, expect=400)

    made = (await bob.request("POST", base + "/apply", json={"all": True}, expect=201)).json()
    assert [s["path"] for s in made["suggestions"]] == ["app.py", "README.md"]
    await bob.request("POST", base + "/apply", json={"blocks": [0]}, expect=400)  # pending
    first = made["suggestions"][0]
    shown = (await carol.request("GET", f"/api/docs/{first['doc_id']}/suggestions/{first['suggestion_id']}", expect=200)).json()  # fmt: skip
    assert shown["source"] == {
        "kind": "thread",
        "thread_id": tid,
        "answer_id": mid,
        "set_id": made["set_id"],
        "block": 0,
    }
    assert shown["proposal"].startswith("def load(path):\n    return open(path, encoding=")

    for item in made["suggestions"]:  # the other member sees each pending on its board
        url = f"{server.ws_url}/{board.board_id(item['doc_id'])}?token={carol.token}"
        async with PyClient(url) as watcher:
            sid = item["suggestion_id"]
            await watcher.wait_for(
                lambda w=watcher, sid=sid: any(
                    s["id"] == sid and s["status"] == "pending" for s in board.read_all(w.doc)
                )
            )
    listed = (await carol.request("GET", f"/api/workspaces/{ws}/suggestion-sets/{made['set_id']}", expect=200)).json()  # fmt: skip
    assert [s["status"] for s in listed["suggestions"]] == ["pending", "pending"]
    accept = f"/api/workspaces/{ws}/suggestion-sets/{made['set_id']}/accept"
    await carol.request("POST", accept, expect=403)
    report = (await alice.request("POST", accept, expect=200)).json()
    assert report == {
        "accepted": [s["suggestion_id"] for s in made["suggestions"]],
        "stale": [],
        "skipped": [],
    }
    assert await content(alice, ws, files["app.py"]["id"]) == APP.replace(
        "open(path)", "open(path, encoding='utf-8')"
    )
    assert await content(alice, ws, files["README.md"]["id"]) == (
        "# Tandem\n\nRun it with `tandem serve --port 8000`.\n"
    )
    again = (await alice.request("POST", accept, expect=200)).json()
    assert again["skipped"] == report["accepted"]


async def test_a_file_edited_meanwhile_goes_stale_and_the_other_still_applies(
    server: TandemProcess, model: ModelServer
) -> None:
    alice, bob, _, ws, tid, mid, files = await answered(server, model, "edit meanwhile")
    base = f"/api/workspaces/{ws}/threads/{tid}/messages/{mid}"
    made = (await bob.request("POST", base + "/apply", json={"blocks": [0, 1]}, expect=201)).json()
    doc = files["app.py"]["doc_id"]
    async with PyClient(f"{server.ws_url}/{doc}?token={alice.token}") as editor:
        await editor.wait_for(lambda: str(editor.text) == APP)
        await editor.insert(APP.index("read()"), "strip().")
    accept = f"/api/workspaces/{ws}/suggestion-sets/{made['set_id']}/accept"
    report = (await alice.request("POST", accept, expect=200)).json()
    app_sid, readme_sid = (s["suggestion_id"] for s in made["suggestions"])
    assert report == {"accepted": [readme_sid], "stale": [app_sid], "skipped": []}
    assert "--port 8000" in await content(alice, ws, files["README.md"]["id"])
    assert "encoding" not in await content(alice, ws, files["app.py"]["id"])


async def test_a_block_still_holding_a_secret_placeholder_is_refused(
    server: TandemProcess, model: ModelServer
) -> None:
    alice, bob, _, ws = await team(server)
    await text_file(alice, ws, "app.py", APP)
    tid = (await new_thread(alice, ws))["id"]
    leaked = "```python path=app.py lines=1-1\nKEY = '[REDACTED:aws_access_key#1]'\n```\n"
    model.script_for("the key", Reply(leaked))
    answer = (await post(alice, ws, tid, "@assistant the key"))["answer"]
    await settled(alice, ws, tid, answer["id"])
    base = f"/api/workspaces/{ws}/threads/{tid}/messages/{answer['id']}"
    [edit] = (await bob.request("GET", base + "/edits", expect=200)).json()["edits"]
    assert "placeholders for secrets" in edit["problem"]
    refused = await bob.request("POST", base + "/apply", json={"blocks": [0]}, expect=400)
    assert refused.json()["error"]["code"] == "invalid_block"


async def test_members_applying_the_same_block_at_once_make_one_suggestion(
    server: TandemProcess, model: ModelServer
) -> None:
    alice, bob, _, ws, tid, mid, files = await answered(server, model, "apply together")
    base = f"/api/workspaces/{ws}/threads/{tid}/messages/{mid}"
    clicks = [
        who.request("POST", base + "/apply", json={"blocks": [0]})
        for who in (alice, bob, alice, bob, alice, bob)
    ]
    responses = await asyncio.gather(*clicks)
    assert sorted(r.status_code for r in responses) == [201] + [400] * 5
    [made] = [r.json() for r in responses if r.status_code == 201]
    doc = files["app.py"]["doc_id"]
    async with PyClient(f"{server.ws_url}/{board.board_id(doc)}?token={alice.token}") as board_doc:
        sid = made["suggestions"][0]["suggestion_id"]
        await board_doc.wait_for(lambda: any(s["id"] == sid for s in board.read_all(board_doc.doc)))
        assert [s["id"] for s in board.read_all(board_doc.doc)] == [sid]
    # Rejected, the block may be applied again, as a new suggestion.
    await alice.request("POST", f"/api/docs/{doc}/suggestions/{sid}/reject", expect=200)
    again = (await bob.request("POST", base + "/apply", json={"blocks": [0]}, expect=201)).json()
    assert again["suggestions"][0]["suggestion_id"] != sid
