"""A real ``tandem serve`` (embedded, in-process assistant workers) pointed at the scripted
model server, plus helpers the end-to-end tests share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.accounts import Account
from tests.modelserver import ModelServer
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

JWT_SECRET = "assistant-tests-secret-0123456789-abcdefghijkl"


def server_env(model: ModelServer, **extra: str) -> dict[str, str]:
    return {
        "TANDEM_JWT_SECRET": JWT_SECRET,
        "TANDEM_OPENAI_BASE_URL": model.base_url,
        "TANDEM_OPENAI_API_KEY": "sk-test-key-for-the-model-server",
        "TANDEM_OPENAI_MODEL": "test-model",
        "TANDEM_OPENAI_TIMEOUT_S": "1.0",
        "TANDEM_OPENAI_MAX_RETRIES": "1",
        "TANDEM_ASSISTANT_RATE_PER_MIN": "1000",
        "TANDEM_ASSISTANT_STREAMS_PER_WORKSPACE": "50",
        "TANDEM_SIGNIN_ATTEMPTS_PER_MIN": "1000",
        **extra,
    }


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[ModelServer]:
    async with ModelServer() as server:
        yield server


@pytest.fixture(scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, model: ModelServer
) -> AsyncIterator[TandemProcess]:
    async with TandemProcess(tmp_path_factory.mktemp("assist"), env=server_env(model)) as proc:
        yield proc


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


async def ask(
    account: Account, doc_id: str, start: int, end: int, *, expect: int = 202, **body: Any
) -> str:
    payload = {
        "instruction": "improve it",
        "mode": "rewrite",
        "range": {"start": start, "end": end},
    }
    payload.update(body)
    response = await account.request(
        "POST", f"/api/docs/{doc_id}/assist", json=payload, expect=expect
    )
    return str(response.json().get("suggestion_id", ""))


async def suggestion(account: Account, doc_id: str, sid: str) -> dict[str, Any]:
    response = await account.request("GET", f"/api/docs/{doc_id}/suggestions/{sid}", expect=200)
    return dict(response.json())


async def wait_until(
    account: Account,
    doc_id: str,
    sid: str,
    predicate: Callable[[dict[str, Any]], bool],
    timeout_s: float = 15.0,
) -> dict[str, Any]:
    """Polls the suggestion over HTTP until ``predicate`` holds (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = await suggestion(account, doc_id, sid)
        if predicate(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"suggestion never matched: {current}")
        await asyncio.sleep(0.02)  # polling an HTTP resource with a deadline


async def wait_status(
    account: Account, doc_id: str, sid: str, *statuses: str, timeout_s: float = 15.0
) -> dict[str, Any]:
    return await wait_until(account, doc_id, sid, lambda s: s["status"] in statuses, timeout_s)
