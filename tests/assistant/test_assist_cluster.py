"""Cluster mode: two pods and ``tandem assistant`` workers on real Valkey, S3 (SeaweedFS) and
the MongoDB wire protocol; stock Yjs clients on different pods."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.accounts import sign_up
from tests.assistant.conftest import ask, suggestion, wait_status, wait_until
from tests.assistant.worker_proc import WorkerProcess
from tests.cluster.services import S3Server, Valkey, running
from tests.modelserver import ModelServer, Reply
from tests.mongo import MongoServer, running_mongo
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

JWT = "assistant-cluster-secret-0123456789-abcdefghijklmn"


@pytest.fixture(scope="module")
def services(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Valkey, S3Server, MongoServer]]:
    base = tmp_path_factory.mktemp("assist-cluster")
    with (
        running(Valkey(base / "valkey")) as valkey,
        running(S3Server(base / "s3")) as s3,
        running_mongo(base / "mongo") as mongo,
    ):
        yield valkey, s3, mongo  # type: ignore[misc]


@pytest.fixture(scope="module")
def env(services: tuple[Valkey, S3Server, MongoServer]) -> dict[str, str]:
    valkey, s3, mongo = services
    return {
        "TANDEM_REDIS_URL": valkey.url,
        "TANDEM_S3_ENDPOINT": s3.endpoint,
        "TANDEM_S3_ACCESS_KEY": s3.access_key,
        "TANDEM_S3_SECRET_KEY": s3.secret_key,
        "TANDEM_S3_BUCKET": "tandem-assist",
        "TANDEM_MONGODB_URL": mongo.url("tandem"),
        "TANDEM_JWT_SECRET": JWT,
        "TANDEM_LOG_LEVEL": "info",
        "TANDEM_ASSISTANT_RATE_PER_MIN": "1000",
        "TANDEM_ASSISTANT_STREAMS_PER_WORKSPACE": "50",
        "TANDEM_SIGNIN_ATTEMPTS_PER_MIN": "1000",
    }


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[ModelServer]:
    async with ModelServer() as server:
        yield server


def worker_env(env: dict[str, str], model: ModelServer, name: str) -> dict[str, str]:
    return {
        **env,
        "TANDEM_POD_ID": name,
        "TANDEM_OPENAI_BASE_URL": model.base_url,
        "TANDEM_OPENAI_API_KEY": "sk-only-the-worker-has-this",
        "TANDEM_OPENAI_MODEL": "cluster-model",
        "TANDEM_OPENAI_TIMEOUT_S": "2",
        "TANDEM_ASSISTANT_WORKERS": "2",
        "TANDEM_ASSISTANT_RECLAIM_IDLE_S": "2",
    }


@pytest.fixture(scope="module")
async def pods(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> AsyncIterator[list[TandemProcess]]:
    base = tmp_path_factory.mktemp("assist-pods")
    started = [
        await TandemProcess(base / f"pod-{i}", env={**env, "TANDEM_POD_ID": f"pod-{i}"}).start()
        for i in range(2)
    ]
    try:
        yield started
    finally:
        for pod in started:
            await pod.kill()


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


async def test_across_pods_with_a_worker_process(
    tmp_path: Path,
    pods: list[TandemProcess],
    env: dict[str, str],
    model: ModelServer,
    js: YjsClients,
    services: tuple[Valkey, S3Server, MongoServer],
) -> None:
    p1, p2 = pods
    alice = await sign_up(p1.http_url)
    bob = await sign_up(p2.http_url)
    carol = await sign_up(p1.http_url)
    ws = await alice.create_workspace()
    for other in (bob, carol):
        await alice.add_member(ws, other, "editor")
    doc = await alice.create_doc(ws)
    bob.base_url = p2.http_url  # bob talks to the second pod
    await js.connect("a", p1.ws_url, doc, params={"token": alice.token})
    await js.connect("b", p2.ws_url, doc, params={"token": bob.token})
    text = "Straße nach Köln 🚲 ist lang.\n"
    await js.insert("a", 0, text)
    await js.wait_text("b", equals=text)

    async with WorkerProcess(tmp_path / "w1", worker_env(env, model, "w1")) as worker:
        # The liveness probe's endpoint, on the worker's own loop.
        async with httpx.AsyncClient(base_url=worker.health_url) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            assert "tandem_assistant_queue_depth" in (await http.get("/metrics")).text
        tokens = ["road ", "to ", "Cologne"]
        model.script_for("nach Köln", Reply(tokens=tokens, rate_per_s=10))
        start, end = 0, len("Straße nach Köln")
        sid = await ask(alice, doc, start, end, instruction="English")
        # Bob, on the other pod, sees the proposal grow and then complete.
        partial = await wait_until(
            bob, doc, sid, lambda s: s["status"] == "streaming" and bool(s["proposal"])
        )
        assert "road to Cologne".startswith(partial["proposal"])
        done = await wait_status(bob, doc, sid, "pending")
        assert done["proposal"] == "road to Cologne" and done["model"] == "cluster-model"
        assert model.requests[-1].headers["authorization"] == "Bearer sk-only-the-worker-has-this"

        # Double accept from both pods at once: applied once.
        path = f"/api/docs/{doc}/suggestions/{sid}/accept"
        first, second = await asyncio.gather(alice.request("POST", path), bob.request("POST", path))
        assert sorted([first.status_code, second.status_code]) == [200, 409]
        expected = "road to Cologne 🚲 ist lang.\n"
        await js.wait_text("a", equals=expected)
        await js.wait_text("b", equals=expected)
        assert await js.converge("a", "b") == expected

        # Stale across pods: alice edits on pod 1, carol accepts on pod 2.
        model.script_for("ist lang", Reply("is long"))
        sid2 = await ask(alice, doc, len("road to Cologne 🚲 "), len(expected) - 2)
        await wait_status(alice, doc, sid2, "pending")
        await js.insert("a", len("road to Cologne 🚲 ist".encode("utf-16-le")) // 2, "!")
        await js.wait_text("b", contains="ist! lang")
        carol.base_url = p2.http_url
        response = await carol.request(
            "POST", f"/api/docs/{doc}/suggestions/{sid2}/accept", expect=409
        )
        assert response.json()["error"]["code"] == "stale"
        assert await js.text("b") == "road to Cologne 🚲 ist! lang.\n"

    # Everything was recorded in MongoDB: the prompt as sent, output, latency, decisions.
    _, _, mongo = services
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url("tandem"))
    try:
        db = client.get_default_database()
        record = await db["assistant_suggestions"].find_one({"_id": sid})
        assert record is not None
        assert record["output"] == "road to Cologne" and record["status"] == "accepted"
        assert record["prompt"][1]["content"].count("Straße nach Köln") == 1
        assert (
            record["first_token_ms"] is not None and record["total_ms"] >= record["first_token_ms"]
        )
        assert record["completion_tokens"] == 3
        decisions = await db["assistant_decisions"].find({"suggestion_id": sid}).to_list(None)
        assert [d["action"] for d in decisions] == ["accepted"]
        stale = await db["assistant_decisions"].find({"suggestion_id": sid2}).to_list(None)
        assert [d["action"] for d in stale] == ["stale"]
    finally:
        await client.close()


async def test_a_dead_workers_job_is_reclaimed_by_another(
    tmp_path: Path,
    pods: list[TandemProcess],
    env: dict[str, str],
    model: ModelServer,
    js: YjsClients,
) -> None:
    p1, _ = pods
    alice = await sign_up(p1.http_url)
    doc = await alice.create_doc(await alice.create_workspace())
    await js.connect("a", p1.ws_url, doc, params={"token": alice.token})
    await js.insert("a", 0, "reclaim this text")
    model.script_for("this text", Reply(tokens=["x"] * 100, rate_per_s=10), Reply("taken over"))
    async with WorkerProcess(tmp_path / "w1", worker_env(env, model, "w-dying")) as dying:
        sid = await ask(alice, doc, 0, 7)
        await wait_until(alice, doc, sid, lambda s: bool(s["proposal"]))
        await dying.stop(signal.SIGKILL)
    async with WorkerProcess(tmp_path / "w2", worker_env(env, model, "w-rescuer")):
        done = await wait_status(alice, doc, sid, "pending", timeout_s=30)
    assert done["proposal"] == "taken over"  # started over: nothing of the first attempt left
    assert (await suggestion(alice, doc, sid))["model"] == "cluster-model"


async def test_a_thread_answer_streams_to_a_member_on_the_other_pod(
    tmp_path: Path, pods: list[TandemProcess], env: dict[str, str], model: ModelServer
) -> None:
    """Issue 24: the answer is written by a ``tandem assistant`` worker through the log; a
    member watching the thread's live document on the other pod sees it grow and end."""
    from assistant.threads import live
    from tests.pyclient import PyClient

    p1, p2 = pods
    alice = await sign_up(p1.http_url)
    bob = await sign_up(p2.http_url)
    ws = await alice.create_workspace()
    await alice.add_member(ws, bob, "editor")
    threads = f"/api/workspaces/{ws}/threads"
    thread = (await alice.request("POST", threads, json={"title": "T"}, expect=201)).json()
    tokens = ["The ", "log ", "carries ", "it."]
    model.script_for("across pods", Reply(tokens=tokens, rate_per_s=10))
    url = f"{p2.ws_url}/{thread['live_doc']}?token={bob.token}"

    def answer(client: PyClient) -> dict[str, Any]:
        shown = [m for m in live.read(client.doc)["messages"] if m["role"] == "assistant"]
        return shown[0] if shown else {}

    async with (
        WorkerProcess(tmp_path / "w-threads", worker_env(env, model, "w-threads")),
        PyClient(url) as watcher,
    ):
        await alice.request(
            "POST",
            f"{threads}/{thread['id']}/messages",
            json={"text": "@assistant how does it work across pods?"},
            expect=201,
        )
        await watcher.wait_for(
            lambda: (
                answer(watcher).get("status") == "streaming"
                and 0 < len(answer(watcher)["text"]) < len("".join(tokens))
            ),
            timeout_s=20,
        )
        await watcher.wait_for(lambda: answer(watcher).get("status") == "done", timeout_s=20)
        assert answer(watcher)["text"] == "".join(tokens)
        assert answer(watcher)["model"] == "cluster-model"


async def test_a_dead_workers_answer_is_taken_over_and_started_over(
    tmp_path: Path, pods: list[TandemProcess], env: dict[str, str], model: ModelServer
) -> None:
    """Issue 24.6: a worker killed mid-answer leaves no answer streaming forever: another
    worker reclaims the job and the answer ends done with only the second attempt's text."""
    p1, _ = pods
    alice = await sign_up(p1.http_url)
    ws = await alice.create_workspace()
    threads = f"/api/workspaces/{ws}/threads"
    thread = (await alice.request("POST", threads, json={"title": "T"}, expect=201)).json()
    model.script_for(
        "outlive its worker", Reply(tokens=["slow "] * 100, rate_per_s=10), Reply("Taken over.")
    )
    messages = f"{threads}/{thread['id']}/messages"

    async def answer() -> dict[str, Any]:
        found = (await alice.request("GET", messages, expect=200)).json()["messages"]
        return next(m for m in found if m["role"] == "assistant")

    async with WorkerProcess(tmp_path / "w-dying", worker_env(env, model, "w-dying")) as dying:
        await alice.request(
            "POST", messages, json={"text": "@assistant outlive its worker"}, expect=201
        )
        async with asyncio.timeout(20):
            while not any(r for r in model.requests if "outlive its worker" in r.text):
                await asyncio.sleep(0.02)  # polling the model server's log with a deadline
        await dying.stop(signal.SIGKILL)
    assert (await answer())["status"] == "streaming"
    async with WorkerProcess(tmp_path / "w-rescuer", worker_env(env, model, "w-rescuer")):
        async with asyncio.timeout(30):
            while (done := await answer())["status"] == "streaming":
                await asyncio.sleep(0.05)  # polling the stored answer with a deadline
    assert done["status"] == "done" and done["text"] == "Taken over."
