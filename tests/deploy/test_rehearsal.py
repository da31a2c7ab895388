"""Rehearsal of a rolling restart: the minikube overlay's server pods as local processes, with
the environment the overlay renders, rolled the way the Deployment rolls them while stock Yjs
clients type. Zero lost edits; clients reconnect within the readiness probe period."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pycrdt import Doc, Text
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError

from sync.redis_s3_store import RedisS3Store
from sync.snapshot_store import SnapshotStore
from sync.types import DocId
from tests.accounts import sign_up
from tests.cluster.balancer import Balancer
from tests.cluster.services import S3Server, running
from tests.deploy.rehearsal import (
    pod_environment,
    redis_from_manifest,
    service_addresses,
    wait_redis,
    without_credentials,
)
from tests.deploy.render import Obj, environment, one, pod_template, secret_data
from tests.mongo import running_mongo
from tests.server_proc import TandemProcess, free_port
from tests.yjs import YjsClients

CLIENTS = 4


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


class ServerPods:
    """New pods of the server Deployment: the rendered environment, a pod name, a port."""

    def __init__(self, objects: list[Obj], twins: dict[str, str], tmp: Path) -> None:
        self.objects = objects
        self.twins = twins
        self.tmp = tmp
        self.deployment = one(objects, "Deployment", "tandem-server")
        [self.container] = pod_template(self.deployment)["spec"]["containers"]

    def environment(self, pod_name: str) -> dict[str, str]:
        env = pod_environment(self.objects, self.container, pod_name, self.twins)
        # The test MongoDB server has no users; everything else is used as rendered.
        env["TANDEM_MONGODB_URL"] = without_credentials(env["TANDEM_MONGODB_URL"])
        return env

    def probe_path(self, probe: str) -> str:
        return str(self.container[probe]["httpGet"]["path"])

    async def start(self) -> TandemProcess:
        name = f"tandem-server-{uuid.uuid4().hex[:10]}"
        port = free_port()
        env = self.environment(name)
        # Loopback on this machine instead of 0.0.0.0 in a pod; the port is the pod's own.
        env |= {"TANDEM_HOST": "127.0.0.1", "TANDEM_PORT": str(port)}
        pod = TandemProcess(self.tmp / name, env=env, port=port)
        await pod.start()
        await self.until_ready(pod)
        return pod

    async def until_ready(self, pod: TandemProcess, timeout_s: float = 30) -> None:
        """As the kubelet: the pod joins the Service when its readiness probe passes."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as client:
            while True:
                response = await client.get(pod.http_url + self.probe_path("readinessProbe"))
                if response.status_code == 200:
                    return
                assert time.monotonic() < deadline, f"never ready: {response.text}"
                await asyncio.sleep(0.1)  # the probe's own polling, at a faster period


async def test_rolling_restart_of_the_minikube_servers_loses_no_edit(
    minikube: list[Obj], tmp_path: Path, js: YjsClients
) -> None:
    s3_secret = secret_data(minikube, _secret_name(minikube, "TANDEM_S3_ACCESS_KEY"))
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
        pods = ServerPods(minikube, twins, tmp_path)
        env = pods.environment("tandem-server-rehearsal")
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
            await _rehearse(pods, redis, env, s3, js)
        finally:
            await redis.aclose()


def _secret_name(objects: list[Obj], variable: str) -> str:
    deployment = one(objects, "Deployment", "tandem-server")
    [container] = pod_template(deployment)["spec"]["containers"]
    ref = environment(objects, container)[variable]
    return str(ref.name)  # type: ignore[union-attr]


async def _rehearse(
    pods: ServerPods, redis: Redis, env: dict[str, str], s3: S3Server, js: YjsClients
) -> None:
    replicas = pods.deployment["spec"]["replicas"]
    running_pods = [await pods.start() for _ in range(replicas)]
    period = pods.container["readinessProbe"]["periodSeconds"]
    grace = pod_template(pods.deployment)["spec"]["terminationGracePeriodSeconds"]
    pre_stop = pods.container["lifecycle"]["preStop"]["sleep"]["seconds"]
    try:
        async with Balancer([p.port for p in running_pods]) as service:
            owner = await sign_up(running_pods[0].http_url)
            doc = await owner.create_doc(await owner.create_workspace())
            names = [f"c{i}" for i in range(CLIENTS)]
            for name in names:
                await js.connect(name, service.ws_url, doc, params={"token": owner.token})
            typing = [
                asyncio.create_task(js.random_edits(n, count=250, seed=i, rate_per_sec=40))
                for i, n in enumerate(names)
            ]
            reconnects: list[float] = []
            for step in range(replicas):
                await _log_reaches(redis, doc, 120 * (step + 1))
                # maxSurge 1, maxUnavailable 0: the new pod is ready before the old one goes.
                new = await pods.start()
                service.backends.append(new.port)
                old = running_pods.pop(0)
                service.backends.remove(old.port)  # endpoint removal (during the preStop)
                closes = {n: len((await js.status(n))["closes"]) for n in names}
                sigterm = time.monotonic()
                code = await old.terminate(timeout_s=grace - pre_stop)
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
        assert await _stored_text(env, s3, doc) == text
    finally:
        await asyncio.gather(*(p.kill() for p in running_pods if p.proc is not None))


async def _log_reaches(redis: Redis, doc: str, entries: int) -> None:
    """The moment to roll: well into the typing. Redis has no event for this: poll."""

    async def until() -> None:
        while await redis.xlen(f"tandem:doc:{doc}:log") < entries:
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
