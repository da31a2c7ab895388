"""Presence across pods, for a joiner and after faults: a client joining a document on a pod
where it was not open sees everyone on other pods at once (the pod asks for their states
when it starts watching), not at their next renewal 15-30 s later; and the presence
subscription outlives errors redis-py does not expect and a Valkey restart, with /readyz
failing while it has none."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from sync import metrics
from sync.redis_presence import RedisPresence
from sync.types import DocId, Origin
from tests.accounts import Account, sign_up
from tests.cluster.conftest import s3, valkey  # noqa: F401 - session fixtures
from tests.cluster.pods import cluster_env, pod
from tests.cluster.services import S3Server, Valkey
from tests.mongo import MongoServer
from tests.yjs import YjsClients


async def test_a_joiner_on_another_pod_sees_existing_presence_within_a_second(
    tmp_path: Path,
    valkey: Valkey,  # noqa: F811
    s3: S3Server,  # noqa: F811
    mongo_server: MongoServer,
    js: YjsClients,
) -> None:
    env = cluster_env(valkey, s3, TANDEM_MONGODB_URL=mongo_server.url(), TANDEM_OPEN_ACCESS="false")
    a = await pod(tmp_path, 0, env).start()
    b = await pod(tmp_path, 1, env).start()
    try:
        owner = await sign_up(a.http_url)
        ws = await owner.create_workspace()
        doc = await owner.create_doc(ws)
        guest = await sign_up(b.http_url)
        await owner.add_member(ws, guest, "editor")

        def params(account: Account) -> dict[str, str]:
            return {"token": account.token}

        owner_id = await js.connect("owner", a.ws_url, doc, params=params(owner))
        await js.set_awareness("owner", {"cursor": 7})
        await js.connect("near", a.ws_url, doc, params=params(guest))
        await js.wait_awareness("near", has=owner_id, includes={"cursor": 7})
        # The document is not open on pod b; its first joiner there sees the owner at once.
        await js.connect("far", b.ws_url, doc, params=params(guest))
        await js.wait_awareness("far", has=owner_id, includes={"cursor": 7}, timeout_ms=1000)
    finally:
        await a.kill()
        await b.kill()


class _Recorder:
    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[DocId, bytes]] = asyncio.Queue()

    def __call__(self, doc_id: DocId, origin: Origin, payload: bytes) -> None:
        self.got.put_nowait((doc_id, payload))


async def _next_real(recorder: _Recorder) -> tuple[DocId, bytes]:
    """The next update that is not a watcher's request for presence."""
    while True:
        doc_id, payload = await asyncio.wait_for(recorder.got.get(), 10)
        if payload:
            return doc_id, payload


def _errors(loop: str) -> float:
    value = metrics.BACKGROUND_ERRORS.labels(loop)._value.get()
    return float(value)


async def _until(condition: Any, what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)  # another task's state, with a bound
    raise AssertionError(f"{what} never happened")


async def test_the_subscription_outlives_errors_it_did_not_expect(valkey: Valkey) -> None:  # noqa: F811
    async with Redis.from_url(valkey.url) as one, Redis.from_url(valkey.url) as two:
        receiver = RedisPresence(one, Origin("pod-r"))
        sender = RedisPresence(two, Origin("pod-s"))
        recorder = _Recorder()
        receiver.listen(recorder)
        sender.listen(lambda *_: None)
        async with receiver, sender:
            await receiver.watch(DocId("d1"))
            sender.publish(DocId("d1"), b"before")
            assert await _next_real(recorder) == (DocId("d1"), b"before")

            # What redis-py was seen to raise after a Valkey restart.
            broken = receiver._pubsub
            errors = _errors("presence_receive")

            async def fail(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("read() called while another coroutine is already waiting")

            broken.get_message = fail
            broken.parse_response = fail
            await broken.ping()  # wakes the reader onto the failing read
            await _until(lambda: _errors("presence_receive") > errors, "the error")
            await _until(lambda: receiver.subscribed and receiver._pubsub is not broken, "resub")
            sender.publish(DocId("d1"), b"after")
            assert await _next_real(recorder) == (DocId("d1"), b"after")


async def test_presence_comes_back_after_valkey_restarts_and_readyz_says_when_it_is_gone(
    tmp_path: Path,
    mongo_server: MongoServer,
    s3: S3Server,  # noqa: F811
    js: YjsClients,
) -> None:
    from tests.cluster.services import Valkey as OwnValkey

    own = OwnValkey(tmp_path / "valkey").start()
    try:
        env = cluster_env(own, s3, TANDEM_MONGODB_URL=mongo_server.url())
        a = await pod(tmp_path, 0, env).start()
        b = await pod(tmp_path, 1, env).start()
        try:
            doc = "presence-restart"
            first = await js.connect("a1", a.ws_url, doc)
            await js.connect("b1", b.ws_url, doc)
            await js.set_awareness("a1", {"round": 1})
            await js.wait_awareness("b1", has=first, includes={"round": 1})

            own.stop(kill=True)
            async with httpx.AsyncClient() as http:
                await _until_async(lambda: _ready(http, a.http_url), False)
                own.start()
                await _until_async(lambda: _ready(http, a.http_url), True)
                await _until_async(lambda: _ready(http, b.http_url), True)
            await js.set_awareness("a1", {"round": 2})
            await js.wait_awareness("b1", has=first, includes={"round": 2})
        finally:
            await a.kill()
            await b.kill()
    finally:
        own.stop(kill=True)


async def _ready(http: httpx.AsyncClient, base: str) -> bool:
    try:
        response = await http.get(f"{base}/readyz", timeout=2.0)
    except httpx.TransportError:
        return False
    return response.status_code == 200


async def _until_async(probe: Any, wanted: bool) -> None:
    for _ in range(300):
        if await probe() is wanted:
            return
        await asyncio.sleep(0.1)  # polling a server's readiness, with a bound
    raise AssertionError(f"readiness never became {wanted}")
