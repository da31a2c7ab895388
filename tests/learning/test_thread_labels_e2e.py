"""Issue 24.5 end to end: what members say of the assistant's answers on a real ``tandem
serve`` (thumbs, a regenerated answer preferred, an answer's block applied and accepted)
lands in the workspace's dataset when ``tandem finetune`` runs, redacted, and not for a
workspace that opted out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.accounts import Account
from tests.assistant.conftest import server_env
from tests.assistant.threads.test_threads_e2e import new_thread, post, settled, team
from tests.finetune_server import FineTuneServer
from tests.learning.test_finetune_cli import SECRET, finetune
from tests.modelserver import ModelServer, Reply
from tests.server_proc import TandemProcess

BLOCK_ANSWER = "Set it higher:\n\n```python path=notes.py lines=1-1\nx = 10\n```\n"


async def answer(
    account: Account, ws: str, tid: str, model: ModelServer, question: str, *replies: str
) -> dict[str, Any]:
    model.script_for(question, *(Reply(r) for r in replies))
    sent = await post(account, ws, tid, f"@assistant {question}")
    return await settled(account, ws, tid, sent["answer"]["id"])


async def say(account: Account, ws: str, tid: str, mid: str, what: str, body: Any) -> Any:
    path = f"/api/workspaces/{ws}/threads/{tid}/messages/{mid}/{what}"
    method = "POST" if what in ("regenerate", "apply") else "PUT"
    expect = 201 if method == "POST" else 200
    return (await account.request(method, path, json=body, expect=expect)).json()


def dataset_lines(objects: Path, manifest_key: str, kind: str) -> list[dict[str, Any]]:
    manifest = json.loads((objects / manifest_key).read_bytes())
    found = []
    for name, stored in manifest["files"].items():
        if name.startswith(kind):
            data = (objects / stored["key"]).read_bytes().decode()
            assert SECRET not in data
            found += [json.loads(line) for line in data.splitlines()]
    return found


async def test_votes_a_preference_and_an_applied_block_land_in_the_dataset(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    async with ModelServer() as model, TandemProcess(data, env=server_env(model)) as server:
        alice, bob, _, ws = await team(server)
        opted_out = await alice.create_workspace()
        await alice.request(
            "PATCH", f"/api/workspaces/{opted_out}", json={"allow_training": False}, expect=200
        )
        tid = (await new_thread(alice, ws))["id"]
        first = await answer(
            alice, ws, tid, model, "name the release", "Call it Otter.", "Call it Heron."
        )
        second = await say(bob, ws, tid, first["id"], "regenerate", None)
        second = await settled(alice, ws, tid, second["answer"]["id"])
        await say(alice, ws, tid, second["id"], "preferred", {"value": True})
        await say(bob, ws, tid, first["id"], "feedback", {"value": "down"})
        shipped = await answer(bob, ws, tid, model, "ship date", f"Friday; key {SECRET}.")
        await say(alice, ws, tid, shipped["id"], "feedback", {"value": "up"})

        await alice.request(
            "POST",
            f"/api/workspaces/{ws}/drive/files",
            json={"name": "notes.py", "text": "x = 1\ny = 2\n"},
            expect=201,
        )
        applied = await answer(alice, ws, tid, model, "raise x", BLOCK_ANSWER)
        made = await say(bob, ws, tid, applied["id"], "apply", {"all": True})
        accept = f"/api/workspaces/{ws}/suggestion-sets/{made['set_id']}/accept"
        await alice.request("POST", accept, expect=200)

        other = (await new_thread(alice, opted_out))["id"]
        for n in range(3):
            kept = await answer(alice, opted_out, other, model, f"private {n}", "Private.")
            await say(alice, opted_out, other, kept["id"], "feedback", {"value": "up"})

    async with FineTuneServer() as provider:
        # Every workspace, as the daily job runs: these have votes but no suggestion of
        # the assistant's own, so only the thread store knows them.
        code, runs, err = await finetune(data, provider)
    by_ws = {run["workspace_id"]: run for run in runs}
    assert by_ws[opted_out]["state"] == "not_allowed", err
    run = by_ws[ws]
    assert code == 0 and run["new_examples"] == 4, (run, err)

    objects = data / "objects"
    sft = dataset_lines(objects, run["manifest_key"], "sft")
    answers = sorted(line["messages"][-1]["content"] for line in sft)
    assert answers == [
        "Call it Heron.",  # preferred by alice, and bob's thumbs down paired it over Otter
        "Friday; key [REDACTED:aws_access_key].",  # alice's thumbs up
        BLOCK_ANSWER,  # applied and accepted as it was
    ]
    [heron] = [line for line in sft if line["messages"][-1]["content"] == "Call it Heron."]
    prompt = heron["messages"][:-1]
    assert prompt[0]["role"] == "system"
    assert prompt[-1]["content"].endswith(": @assistant name the release")
    assert not any(m["role"] == "assistant" for m in prompt)  # not the alternative it beat
    [pair] = dataset_lines(objects, run["manifest_key"], "preference")
    assert pair["preferred_output"][0]["content"] == "Call it Heron."
    assert pair["non_preferred_output"][0]["content"] == "Call it Otter."
