"""The learning loop in cluster mode: two pods and a ``tandem assistant`` worker on real
Valkey, S3 (SeaweedFS) and the MongoDB wire protocol. Members on different pods edit and decide;
the history shows each pod's sessions; ``tandem finetune`` reads the documents from Redis and
S3, keeps its datasets in S3 and promotes a model the worker then uses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.accounts import sign_up
from tests.assistant.conftest import ask, wait_status
from tests.assistant.worker_proc import WorkerProcess
from tests.cluster.services import S3Server, Valkey, running
from tests.finetune_server import FineTuneServer
from tests.learning.test_finetune_cli import SECRET, finetune
from tests.modelserver import Reply
from tests.mongo import MongoServer, running_mongo
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

BUCKET = "tandem-learning"


@pytest.fixture(scope="module")
def services(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Valkey, S3Server, MongoServer]]:
    base = tmp_path_factory.mktemp("learning-cluster")
    with (
        running(Valkey(base / "valkey")) as valkey,
        running(S3Server(base / "s3")) as s3,
        running_mongo(base / "mongo") as mongo,
    ):
        yield valkey, s3, mongo  # type: ignore[misc]


@pytest.fixture
async def provider() -> AsyncIterator[FineTuneServer]:
    async with FineTuneServer(default=Reply("OK")) as server:
        yield server


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


def cluster_env(
    services: tuple[Valkey, S3Server, MongoServer], provider: FineTuneServer
) -> dict[str, str]:
    valkey, s3, mongo = services
    return {
        "TANDEM_REDIS_URL": valkey.url,
        "TANDEM_S3_ENDPOINT": s3.endpoint,
        "TANDEM_S3_ACCESS_KEY": s3.access_key,
        "TANDEM_S3_SECRET_KEY": s3.secret_key,
        "TANDEM_S3_BUCKET": BUCKET,
        "TANDEM_MONGODB_URL": mongo.url(),
        "TANDEM_JWT_SECRET": "learning-cluster-secret-0123456789-abcdefghijk",
        "TANDEM_ASSISTANT_RATE_PER_MIN": "1000",
        "TANDEM_OPENAI_BASE_URL": provider.base_url,
        "TANDEM_OPENAI_API_KEY": "sk-test-worker",
        "TANDEM_OPENAI_MODEL": "base-model",
        # Once in four runs a stream stalled after its last token (in the test model server
        # or the worker's client, not found yet): a short read timeout retries it instead.
        "TANDEM_OPENAI_TIMEOUT_S": "2",
        "TANDEM_FT_REGISTRY_CACHE_S": "0",
        "TANDEM_HISTORY_FLUSH_S": "0.2",
    }


async def test_two_pods_one_worker_and_the_daily_job(
    tmp_path: Path,
    services: tuple[Valkey, S3Server, MongoServer],
    provider: FineTuneServer,
    js: YjsClients,
) -> None:
    env = cluster_env(services, provider)
    async with (
        TandemProcess(tmp_path / "pod-0", env={**env, "TANDEM_POD_ID": "pod-0"}) as pod0,
        TandemProcess(tmp_path / "pod-1", env={**env, "TANDEM_POD_ID": "pod-1"}) as pod1,
        WorkerProcess(tmp_path / "worker", {**env, "TANDEM_POD_ID": "worker-0"}),
    ):
        alice, bob = await sign_up(pod0.http_url), await sign_up(pod1.http_url)
        ws = await alice.create_workspace()
        await alice.add_member(ws, bob, "editor")
        doc = await alice.create_doc(ws)
        await js.connect("a", pod0.ws_url, doc, params={"token": alice.token})
        await js.connect("b", pod1.ws_url, doc, params={"token": bob.token})
        text = "one: teh cat\ntwo: we shiped it\nthree: call me maybe\nfour: results were good\n"
        await js.insert("a", 0, text)
        await js.converge("a", "b")

        async def suggest(selection: str, proposal: str) -> tuple[str, int]:
            provider.script_for(selection, Reply(proposal))
            start = (await js.text("a")).index(selection)
            sid = await ask(alice, doc, start, start + len(selection))
            await wait_status(alice, doc, sid, "pending")
            return sid, start

        async def retype(start: int, old: str, new: str) -> None:
            await js.delete("b", start, len(old))
            await js.insert("b", start, new)
            await js.converge("a", "b")

        bob_on_1 = bob.__class__(pod1.http_url, bob.user_id, bob.username, bob.token, "")
        sid, _ = await suggest("teh", "the")
        await bob_on_1.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=200)
        sid, at = await suggest("shiped", "shipped!!")
        await alice.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=200)
        await js.converge("a", "b")
        await retype(at, "shipped!!", "shipped")
        sid, at = await suggest("call me maybe", "call me")
        await bob_on_1.request("POST", f"/api/docs/{doc}/suggestions/{sid}/accept", expect=200)
        await js.converge("a", "b")
        await retype(at, "call me", f"call me ({SECRET})")
        sid, at = await suggest("results were good", "results were great!!!")
        await bob_on_1.request("POST", f"/api/docs/{doc}/suggestions/{sid}/reject", expect=200)
        await retype(at, "results were good", "results beat the plan")

        # The history on either pod: each member's sessions, recorded by the pod they use.
        for pod in (pod0, pod1):
            reader = alice.__class__(pod.http_url, alice.user_id, alice.username, alice.token, "")
            found = (await reader.request("GET", f"/api/docs/{doc}/history", expect=200)).json()
            pods_of = {(s["user_id"], s["pod"]) for s in found["sessions"] if s["kind"] == "edit"}
            assert (alice.user_id, "pod-0") in pods_of
            assert (bob.user_id, "pod-1") in pods_of, found["sessions"]

        job_env = {**env, "TANDEM_POD_ID": "finetune", "TANDEM_FT_MIN_EXAMPLES": "3"}
        code, [run], err = await finetune(tmp_path / "job", provider, **job_env)
        assert code == 0, err
        assert run["state"] == "promoted", run
        client = services[1].client()
        keys = sorted(
            o.object_name
            for o in client.list_objects(BUCKET, prefix=f"learning/{ws}/", recursive=True)
        )
        assert f"{run['manifest_key']}" in keys and len(keys) == 5
        for key in keys:
            data = client.get_object(BUCKET, key).read()
            assert SECRET.encode() not in data
        manifest = json.loads(client.get_object(BUCKET, run["manifest_key"]).read())
        assert manifest["examples"]["train"] + manifest["examples"]["validation"] == 4

        sid = await ask(bob_on_1, doc, 0, 3)
        assert (await wait_status(bob_on_1, doc, sid, "pending"))["model"] == run[
            "fine_tuned_model"
        ]

        await alice.request("DELETE", f"/api/workspaces/{ws}", expect=204)
        left = list(client.list_objects(BUCKET, prefix=f"learning/{ws}/", recursive=True))
        assert left == []
