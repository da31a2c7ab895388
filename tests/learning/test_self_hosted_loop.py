"""The whole loop with no third party: a tiny chat model made at test time is the base that
``tandem model serve`` runs and the assistant of ``tandem serve`` asks. Members of one
workspace accept the model's (poor) suggestions and correct them by hand over stock Yjs
clients; ``tandem finetune`` with the local trainer turns the corrections into a LoRA adapter
in object storage; the gate, through the same model server, promotes it because it scores
better than the base; the workspace's next suggestion comes from the adapter while another
workspace still gets the base; a deliberately broken candidate is refused."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from learning.models import resolve
from tests.accounts import sign_up
from tests.assistant.conftest import ask, wait_status
from tests.server_proc import TandemProcess
from tests.tiny_model import build_tiny_model
from tests.yjs import YjsClients

JWT_SECRET = "self-hosted-loop-secret-0123456789-abcdefghij"
FIXES = [
    ("teh cat sat", "the cat sat"),
    ("we shiped it", "we shipped it"),
    ("see you on monday", "see you on Monday"),
    ("teh plan works", "the plan works"),
    ("we shiped the fix", "we shipped the fix"),
    ("teh report is out", "the report is out"),
    ("meet on monday", "meet on Monday"),
    ("we shiped teh box", "we shipped the box"),
]
TEXT = "".join(f"Line {i}: {wrong}.\n" for i, (wrong, _) in enumerate(FIXES))
_DEADLINE_S = 180.0


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = [TEXT, *(f"{a} {b}" for a, b in FIXES)]
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "base", corpus)


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


def common_env(data_dir: Path, base: Path) -> dict[str, str]:
    return {
        "TANDEM_DATA_DIR": str(data_dir),
        "TANDEM_BASE_MODEL": str(base),
        "TANDEM_MODEL_CACHE_DIR": str(data_dir / "cache"),
        "TANDEM_MODEL_MAX_NEW_TOKENS": "24",
        "TANDEM_JWT_SECRET": JWT_SECRET,
        "TANDEM_OPENAI_MAX_RETRIES": "0",
        "TANDEM_ASSISTANT_RATE_PER_MIN": "1000",
        "TANDEM_FT_REGISTRY_CACHE_S": "0",
        "TANDEM_ASSISTANT_REDACT_SECRETS": "false",  # the model is our own
    }


async def finetune(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "finetune",
        *args,
        env={**os.environ, **env, "TANDEM_LOG_LEVEL": "warning"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), _DEADLINE_S)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert proc.returncode is not None
    return proc.returncode, lines, err.decode()


async def test_corrections_train_an_adapter_that_serves_the_next_suggestion(
    tmp_path: Path, tiny_base: Path, js: YjsClients
) -> None:
    base = resolve(str(tiny_base))
    env = common_env(tmp_path, tiny_base)
    async with TandemProcess(tmp_path / "model", env=env, command=("model", "serve")) as model:
        env["TANDEM_OPENAI_BASE_URL"] = f"{model.http_url}/v1"
        async with TandemProcess(tmp_path, env=env) as server:
            alice, bob = await sign_up(server.http_url), await sign_up(server.http_url)
            ws = await alice.create_workspace()
            other_ws = await alice.create_workspace()
            await alice.add_member(ws, bob, "editor")
            doc = await alice.create_doc(ws)
            for name, account in (("a", alice), ("b", bob)):
                await js.connect(name, server.ws_url, doc, params={"token": account.token})
            await js.insert("a", 0, TEXT)
            await js.converge("a", "b")

            for wrong, right in FIXES:
                # The base model proposes something; Bob accepts and types what he meant.
                text = await js.text("a")
                start = text.index(wrong)
                sid = await ask(alice, doc, start, start + len(wrong))
                done = await wait_status(alice, doc, sid, "pending", timeout_s=60)
                assert done["model"] == base.id, done
                await bob.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=200)
                await js.wait_text(
                    "b", contains=f"Line {FIXES.index((wrong, right))}: {done['proposal']}"
                )
                text = await js.text("b")
                await js.delete("b", u16(text[:start]), u16(done["proposal"]))
                await js.insert("b", u16(text[:start]), right)
                await js.converge("a", "b")

            train_env = {
                **env,
                "TANDEM_FT_TRAINER": "local",
                "TANDEM_FT_MIN_EXAMPLES": "4",
                "TANDEM_FT_SETTLE_S": "0",
                "TANDEM_FT_EPOCHS": "40",
                "TANDEM_FT_BATCH_SIZE": "2",
                "TANDEM_FT_LEARNING_RATE": "0.005",
            }
            code, [run], err = await finetune(train_env, "--workspace", ws, "--day", "2026-12-07")
            assert code == 0, err
            adapter = f"{ws}/2026-12-07"
            assert run["state"] == "promoted", run
            assert run["model_id"] == adapter and run["reason"].startswith("the candidate scored")
            assert run["scores"]["candidate"]["mean"] > run["scores"]["current"]["mean"]
            losses = [p["loss"] for p in run["loss"]]
            assert sum(losses[-3:]) < sum(losses[:3]), losses
            stored = tmp_path / "objects" / "models" / ws / "2026-12-07"
            manifest = json.loads((stored / "manifest.json").read_text())
            assert manifest["base_model"] == base.id
            assert manifest["base_revision"] == base.revision
            assert (stored / "adapter" / "adapter_model.safetensors").stat().st_size > 0

            # The next suggestion of that workspace comes from its adapter; another
            # workspace still gets the base.
            text = await js.text("a")
            start = text.index("Line 0")
            sid = await ask(alice, doc, start, start + len("Line 0"))
            done = await wait_status(alice, doc, sid, "pending", timeout_s=60)
            assert done["model"] == adapter, done
            other_doc = await alice.create_doc(other_ws)
            for name in ("c", "d"):
                await js.connect(name, server.ws_url, other_doc, params={"token": alice.token})
            await js.insert("c", 0, "teh other team")
            await js.converge("c", "d")
            sid = await ask(alice, other_doc, 0, 3)
            done = await wait_status(alice, other_doc, sid, "pending", timeout_s=60)
            assert done["model"] == base.id, done

            # A deliberately broken candidate (a learning rate that wrecks the weights) is
            # refused: the workspace keeps the adapter it has.
            broken_env = {
                **train_env,
                "TANDEM_FT_LEARNING_RATE": "50",
                "TANDEM_FT_MIN_EXAMPLES": "0",
            }
            code, [broken], err = await finetune(
                broken_env, "--workspace", ws, "--day", "2026-12-08"
            )
            assert code == 0, err
            assert broken["state"] == "rejected", broken
            assert broken["scores"]["current"]["model"] == adapter
            status = (
                await alice.request("GET", f"/api/workspaces/{ws}/learning", expect=200)
            ).json()
            assert status["current"] == adapter
            assert [r["state"] for r in status["runs"]] == ["rejected", "promoted"]


def u16(text: str) -> int:
    """Yjs counts UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2
