"""The whole loop on a real ``tandem serve``: stock Yjs clients edit, members accept, reject and
correct suggestions, ``tandem finetune`` (a subprocess on the same data directory) trains on
the outcomes at the test provider, promotes the better model, and the next assist request of
that workspace goes to the promoted model (seen at the model server)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from tests.accounts import sign_up
from tests.assistant.conftest import ask, suggestion, wait_status
from tests.finetune_server import FineTuneServer
from tests.learning.test_finetune_cli import SECRET, finetune
from tests.modelserver import Reply
from tests.mongo import MongoServer
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

JWT_SECRET = "learning-tests-secret-0123456789-abcdefghijkl"
TEXT = (
    "Line one: teh cat sat.\n"
    "Line two: we shiped it.\n"
    "Line three: results were good.\n"
    "Line four: call me maybe.\n"
    "Line five: see you on monday.\n"
)


@pytest.fixture
async def provider() -> AsyncIterator[FineTuneServer]:
    async with FineTuneServer(default=Reply("OK")) as server:
        yield server


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


def env(provider: FineTuneServer) -> dict[str, str]:
    return {
        "TANDEM_JWT_SECRET": JWT_SECRET,
        "TANDEM_OPENAI_BASE_URL": provider.base_url,
        "TANDEM_OPENAI_API_KEY": "sk-test-key-for-the-model-server",
        "TANDEM_OPENAI_MODEL": "base-model",
        "TANDEM_OPENAI_MAX_RETRIES": "0",
        "TANDEM_ASSISTANT_RATE_PER_MIN": "1000",
        "TANDEM_FT_REGISTRY_CACHE_S": "0",
    }


@pytest.mark.parametrize("storage", ["sqlite", "mongo"])
async def test_corrections_train_a_model_the_next_request_uses(
    tmp_path: Path,
    provider: FineTuneServer,
    js: YjsClients,
    mongo_server: MongoServer,
    storage: str,
) -> None:
    extra = {"TANDEM_MONGODB_URL": mongo_server.url()} if storage == "mongo" else {}
    async with TandemProcess(tmp_path, env={**env(provider), **extra}) as server:
        alice, bob = await sign_up(server.http_url), await sign_up(server.http_url)
        ws = await alice.create_workspace()
        await alice.add_member(ws, bob, "editor")
        doc = await alice.create_doc(ws)
        for name, account in (("a", alice), ("b", bob)):
            await js.connect(name, server.ws_url, doc, params={"token": account.token})
        await js.insert("a", 0, TEXT)
        await js.converge("a", "b")

        async def suggest(selection: str, proposal: str) -> tuple[str, int]:
            provider.script_for(selection, Reply(proposal))
            text = await js.text("a")
            start = text.index(selection)
            sid = await ask(alice, doc, start, start + len(selection))
            done = await wait_status(alice, doc, sid, "pending")
            assert done["proposal"] == proposal and done["model"] == "base-model"
            return sid, start

        async def decide(sid: str, action: str) -> None:
            path = f"/api/docs/{doc}/suggestions/{sid}/{action}"
            await bob.request("POST", path, expect=200)

        async def retype(start: int, old: str, new: str) -> None:
            """A person replaces ``old`` at ``start`` by hand."""
            await js.delete("b", start, len(old))
            await js.insert("b", start, new)
            await js.converge("a", "b")

        sid, _ = await suggest("teh", "the")
        await decide(sid, "accept")  # kept
        sid, at = await suggest("shiped", "shipped!!")
        await decide(sid, "accept")
        await retype(at, "shipped!!", "shipped")  # edited
        sid, at = await suggest("results were good", "results were extremely good!!!")
        await decide(sid, "reject")
        await retype(at, "results were good", "results beat the plan")  # rewritten
        sid, at = await suggest("call me maybe", "call me")
        await decide(sid, "accept")
        await retype(at, "call me", f"call me, key {SECRET}")  # edited, with a secret
        sid, _ = await suggest("monday", "Monday")
        await decide(sid, "accept")  # kept
        await js.converge("a", "b")

        code, [run], err = await finetune(tmp_path, provider, **extra)
        assert code == 0, err
        assert run["state"] == "promoted", run
        promoted = run["fine_tuned_model"]
        assert len(provider.jobs) == 1
        uploaded = b"".join(f.data for f in provider.files.values()).decode()
        assert SECRET not in uploaded
        assert "results beat the plan" in uploaded and "shipped" in uploaded

        before = len(provider.chat_requests(promoted))
        text = await js.text("a")
        start = text.index("Line one")
        sid = await ask(alice, doc, start, start + len("Line one"))
        done = await wait_status(alice, doc, sid, "pending", "failed")
        assert done["model"] == promoted, done
        assert len(provider.chat_requests(promoted)) == before + 1
        assert (await suggestion(alice, doc, sid))["status"] == "pending"

        # Members see the workspace's model; its owner may roll it back, which sends the
        # next request to the base model again.
        learning = f"/api/workspaces/{ws}/learning"
        status = (await bob.request("GET", learning, expect=200)).json()
        assert status["current"] == promoted and status["allow_training"] is True
        assert [r["state"] for r in status["runs"]] == ["promoted"]
        await bob.request("POST", f"{learning}/rollback", expect=403)
        status = (await alice.request("POST", f"{learning}/rollback", expect=200)).json()
        assert status["current"] is None
        await alice.request("POST", f"{learning}/rollback", expect=409)
        sid = await ask(alice, doc, start, start + len("Line one"))
        assert (await wait_status(alice, doc, sid, "pending"))["model"] == "base-model"

        # Deleting the workspace deletes its datasets, outcomes, runs and models.
        assert (tmp_path / "objects" / "learning" / ws).is_dir()
        await alice.request("DELETE", f"/api/workspaces/{ws}", expect=204)
    assert not (tmp_path / "objects" / "learning" / ws).exists()
    tables = ("learning_runs", "learning_models", "learning_pointers", "learning_outcomes")
    if storage == "sqlite":
        with sqlite3.connect(tmp_path / "learning.db") as db:
            for table in tables:
                count = db.execute(f"SELECT COUNT(*) FROM {table} WHERE workspace_id = ?", (ws,))
                assert count.fetchone()[0] == 0, table
        return
    assert not (tmp_path / "learning.db").exists() and not (tmp_path / "assistant.db").exists()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(extra["TANDEM_MONGODB_URL"])
    try:
        db = client.get_default_database()
        for table in (*tables, "history_sessions", "assistant_suggestions"):
            assert await db[table].count_documents({"workspace_id": ws}) == 0, table
    finally:
        await client.close()
