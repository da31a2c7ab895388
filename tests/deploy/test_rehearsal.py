"""Rehearsal of a rolling restart: the minikube overlay's pods as local processes (two
servers, one assistant worker) with the environment the overlay renders, the servers rolled
the way the Deployment rolls them while stock Yjs clients type and the assistant streams a
suggestion. Zero lost edits; clients reconnect within the readiness probe period."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, ResponseError

from sync.redis_s3_store import RedisS3Store
from sync.snapshot_store import SnapshotStore
from sync.types import DocId
from tests.accounts import Account, sign_up
from tests.assistant.worker_proc import WorkerProcess
from tests.cluster.balancer import Balancer
from tests.cluster.services import S3Server, running
from tests.deploy.rehearsal import (
    pod_environment,
    redis_from_manifest,
    service_addresses,
    wait_redis,
    without_credentials,
)
from tests.deploy.render import (
    TEST_MODEL_KEY,
    Obj,
    SecretRef,
    environment,
    one,
    pod_template,
    secret_data,
)
from tests.modelserver import ModelServer, Reply
from tests.mongo import running_mongo
from tests.server_proc import TandemProcess, free_port
from tests.yjs import YjsClients

CLIENTS = 4
SUGGESTION = " ".join(f"word{i}" for i in range(40))


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


class Workload:
    """New pods of one rendered Deployment: its environment with each Service address
    replaced by a local twin, a fresh pod name, and a data directory of its own (the emptyDir)."""

    def __init__(self, objects: list[Obj], name: str, twins: dict[str, str], tmp: Path) -> None:
        self.objects = objects
        self.name = name
        self.twins = twins
        self.tmp = tmp
        self.deployment = one(objects, "Deployment", name)
        self.spec = pod_template(self.deployment)["spec"]
        [self.container] = self.spec["containers"]

    def pod_name(self) -> str:
        return f"{self.name}-{uuid.uuid4().hex[:10]}"

    def environment(self, pod_name: str) -> dict[str, str]:
        env = pod_environment(self.objects, self.container, pod_name, self.twins)
        # The test MongoDB server has no users; everything else is used as rendered.
        env["TANDEM_MONGODB_URL"] = without_credentials(env["TANDEM_MONGODB_URL"])
        env["TANDEM_DATA_DIR"] = str(self.tmp / pod_name)
        return env

    @property
    def grace_s(self) -> float:
        return float(self.spec["terminationGracePeriodSeconds"])


async def start_server(servers: Workload) -> TandemProcess:
    name, port = servers.pod_name(), free_port()
    # Loopback on this machine instead of 0.0.0.0 in a pod; the port is the pod's own.
    env = servers.environment(name) | {"TANDEM_HOST": "127.0.0.1", "TANDEM_PORT": str(port)}
    pod = await TandemProcess(servers.tmp / name, env=env, port=port).start()
    # As the kubelet: the pod joins the Service once its readiness probe passes.
    path = servers.container["readinessProbe"]["httpGet"]["path"]
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while (response := await client.get(pod.http_url + path)).status_code != 200:
            assert time.monotonic() < deadline, f"never ready: {response.text}"
            await asyncio.sleep(0.1)  # the probe's own polling, at a faster period
    return pod


async def test_rolling_restart_of_the_minikube_pods_loses_no_edit(
    minikube: list[Obj], tmp_path: Path, js: YjsClients
) -> None:
    servers = one(minikube, "Deployment", "tandem-server")
    [server_container] = pod_template(servers)["spec"]["containers"]
    s3_ref = environment(minikube, server_container)["TANDEM_S3_ACCESS_KEY"]
    assert isinstance(s3_ref, SecretRef)
    s3_secret = secret_data(minikube, s3_ref.name)
    with (
        redis_from_manifest(minikube, tmp_path / "redis") as redis_port,
        running(
            S3Server(
                tmp_path / "s3",
                access_key=s3_secret["access-key"],
                secret_key=s3_secret["secret-key"],
            )
        ) as s3,
        running_mongo(tmp_path / "mongodb") as mongo,
    ):
        assert isinstance(s3, S3Server)
        twins = {
            "redis:6379": f"127.0.0.1:{redis_port}",
            "minio:9000": s3.endpoint,
            "mongodb:27017": f"127.0.0.1:{mongo.port}",
        }
        assert service_addresses(minikube) == set(twins), "a store without a local twin"
        async with ModelServer() as model:
            model_api = str(
                one(minikube, "ConfigMap", _config_map(minikube))["data"]["TANDEM_OPENAI_BASE_URL"]
            )
            twins[model_api] = model.base_url
            server_pods = Workload(minikube, "tandem-server", twins, tmp_path)
            env = server_pods.environment("tandem-server-rehearsal")
            redis = await wait_redis(env["TANDEM_REDIS_URL"])
            try:
                anonymous = Redis.from_url(f"redis://127.0.0.1:{redis_port}/0")
                with pytest.raises(AuthenticationError):  # the Secret's password is required
                    await anonymous.ping()
                await anonymous.aclose()
                # The manifest's arguments, as the real server took them.
                config = await redis.config_get("appendonly", "appendfsync", "maxmemory-policy")
                assert config == {
                    "appendonly": "yes",
                    "appendfsync": "always",
                    "maxmemory-policy": "noeviction",
                }
                assistant = Workload(minikube, "tandem-assistant", twins, tmp_path)
                await _rehearse(server_pods, assistant, redis, env, s3, model, js)
            finally:
                await redis.aclose()


def _config_map(objects: list[Obj]) -> str:
    [name] = [c["metadata"]["name"] for c in objects if c["kind"] == "ConfigMap"]
    return str(name)


async def _rehearse(
    servers: Workload,
    assistant: Workload,
    redis: Redis,
    env: dict[str, str],
    s3: S3Server,
    model: ModelServer,
    js: YjsClients,
) -> None:
    replicas = servers.deployment["spec"]["replicas"]
    running_pods = [await start_server(servers) for _ in range(replicas)]
    worker_name = assistant.pod_name()
    worker = WorkerProcess(tmp_dir := servers.tmp / worker_name, {}, worker_name)
    worker.env = assistant.environment(worker_name) | {"TANDEM_DATA_DIR": str(tmp_dir)}
    await worker.start()
    period = servers.container["readinessProbe"]["periodSeconds"]
    pre_stop = servers.container["lifecycle"]["preStop"]["sleep"]["seconds"]
    try:
        async with Balancer([p.port for p in running_pods]) as service:
            owner = await sign_up(f"http://127.0.0.1:{service.port}")
            doc = await owner.create_doc(await owner.create_workspace())
            names = [f"c{i}" for i in range(CLIENTS)]
            for name in names:
                await js.connect(name, service.ws_url, doc, params={"token": owner.token})
            typing = [
                asyncio.create_task(js.random_edits(n, count=250, seed=i, rate_per_sec=40))
                for i, n in enumerate(names)
            ]
            await _log_reaches(redis, doc, 60)
            # The assistant streams a suggestion while the servers roll.
            model.script(Reply(SUGGESTION, rate_per_s=10))
            suggestion = await _ask(owner, doc)
            reconnects: list[float] = []
            for step in range(replicas):
                await _log_reaches(redis, doc, 120 * (step + 1))
                # maxSurge 1, maxUnavailable 0: the new pod is ready before the old one goes.
                new = await start_server(servers)
                service.backends.append(new.port)
                old = running_pods.pop(0)
                service.backends.remove(old.port)  # endpoint removal (during the preStop)
                closes = {n: len((await js.status(n))["closes"]) for n in names}
                sigterm = time.monotonic()
                code = await old.terminate(timeout_s=servers.grace_s - pre_stop)
                assert code in (0, -15), f"not a graceful exit ({code}):\n{old.log()}"
                moved = [n for n in names if len((await js.status(n))["closes"]) > closes[n]]
                assert moved, "no client was on the pod that left"
                for name in moved:
                    await js.wait_synced(name, timeout_ms=period * 1000)
                    reconnects.append(time.monotonic() - sigterm)
                    assert (await js.status(name))["lastClose"]["code"] in (1001, 1012)
                running_pods.append(new)
            await asyncio.gather(*typing)
            text = await js.converge(*names, timeout_ms=30000)
            assert len(text) > 0
            print(f"rolling restart: clients back and synced {sorted(reconnects)} s after SIGTERM")
            assert max(reconnects) < period, reconnects
            # A client arriving after the roll, and a fresh load from Redis + S3, see it all.
            await js.connect("late", service.ws_url, doc, params={"token": owner.token})
            await js.wait_text("late", equals=text)
            # The worker finished the suggestion (stale if the typists edited its range), with
            # the key from the Secret only the assistant mounts.
            status = await _settled(owner, doc, suggestion, worker, model)
            assert status in ("pending", "stale"), status
            [request, *_] = model.requests
            assert request.headers["authorization"] == f"Bearer {TEST_MODEL_KEY}"
        assert await _stored_text(env, s3, doc) == text
        assert await worker.stop() == 0, worker.log()
    finally:
        await asyncio.gather(*(p.kill() for p in running_pods if p.proc is not None))
        if worker.proc is not None and worker.proc.returncode is None:
            worker.proc.kill()
            await worker.proc.wait()


async def _ask(owner: Account, doc: str) -> str:
    body: dict[str, Any] = {
        "instruction": "improve it",
        "mode": "rewrite",
        "range": {"start": 0, "end": 3},
    }
    response = await owner.request("POST", f"/api/docs/{doc}/assist", json=body, expect=202)
    return str(response.json()["suggestion_id"])


async def _settled(
    owner: Account,
    doc: str,
    suggestion: str,
    worker: WorkerProcess,
    model: ModelServer,
    timeout_s: float = 30,
) -> str:
    """Poll the suggestion over HTTP until it leaves ``streaming`` (bounded)."""
    deadline = time.monotonic() + timeout_s
    path = f"/api/docs/{doc}/suggestions/{suggestion}"
    while (status := (await owner.request("GET", path, expect=200)).json()["status"]) in (
        "queued",
        "streaming",
    ):
        assert time.monotonic() < deadline, (
            f"suggestion still {status}; model requests: {len(model.requests)}; "
            f"worker log:\n{worker.log()[-3000:]}"
        )
        await asyncio.sleep(0.1)
    return str(status)


async def _log_reaches(redis: Redis, doc: str, entries: int) -> None:
    """The moment to act: well into the typing. Counted as entries ever added to the
    document's stream (compaction trims its length). Redis has no event for this: poll."""

    async def added() -> int:
        try:
            info = await redis.xinfo_stream(f"tandem:doc:{doc}:log")
        except ResponseError:  # no stream yet
            return 0
        return int(info["entries-added"])

    async def until() -> None:
        while await added() < entries:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(until(), 30)


async def _stored_text(env: dict[str, str], s3: S3Server, doc: str) -> str:
    store = RedisS3Store(
        Redis.from_url(env["TANDEM_REDIS_URL"]), SnapshotStore(s3.client(), env["TANDEM_S3_BUCKET"])
    )
    try:
        ydoc = Doc()
        for update in (await store.load(DocId(doc))).updates:
            ydoc.apply_update(update)
        return str(ydoc.get("content", type=Text))
    finally:
        await store.aclose()
