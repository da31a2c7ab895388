"""Several `tandem serve` pods in cluster mode, real Yjs clients spread over them."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pycrdt import Doc, Text
from redis.asyncio import Redis

from sync.types import DocId
from tests.cluster.balancer import Balancer
from tests.cluster.conftest import open_cluster_store
from tests.cluster.pods import cluster_env, pod
from tests.cluster.services import S3Server, Valkey, running
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients


@pytest.fixture
def room() -> str:
    return f"doc-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


async def start_pods(tmp: Path, env: dict[str, str], count: int = 3) -> list[TandemProcess]:
    return list(await asyncio.gather(*(pod(tmp, i, env).start() for i in range(count))))


async def stop_all(pods: list[TandemProcess]) -> None:
    await asyncio.gather(*(p.kill() for p in pods if p.proc is not None))


async def stored_text(valkey: Valkey, s3: S3Server, room: str) -> str:
    """What a fresh pod would load: snapshots in S3 plus the Redis stream."""
    store = await open_cluster_store(valkey, s3, flush=False)
    try:
        doc = Doc()
        for update in (await store.load(DocId(room))).updates:
            doc.apply_update(update)
        return str(doc.get("content", type=Text))
    finally:
        await store.aclose()


async def log_reaches(valkey: Valkey, room: str, entries: int) -> None:
    """Wait until ``entries`` updates were appended to the document's stream: the moment to
    inject a fault mid-run. Counted by ``entries-added``, since compaction trims the stream
    (its length can stay below the mark). Redis has no event for this, so it is polled."""
    redis = Redis.from_url(valkey.url)
    key = f"tandem:doc:{room}:log"
    try:

        async def added() -> int:
            if not await redis.exists(key):
                return 0
            return int((await redis.xinfo_stream(key))["entries-added"])

        async def until() -> None:
            while await added() < entries:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(until(), 20)
    finally:
        await redis.aclose()


async def test_clients_on_three_pods_converge_with_presence(
    tmp_path: Path, valkey: Valkey, s3: S3Server, js: YjsClients, room: str
) -> None:
    pods = await start_pods(tmp_path, cluster_env(valkey, s3))
    try:
        names = [f"c{i}" for i in range(6)]
        ids = {n: await js.connect(n, pods[i % 3].ws_url, room) for i, n in enumerate(names)}
        await asyncio.gather(*(js.random_edits(n, count=100, seed=i) for i, n in enumerate(names)))
        text = await js.converge(*names, timeout_ms=20000)
        assert len(text) > 0
        # Presence crosses pods, and so does its removal.
        await js.set_awareness("c0", {"user": "ann"})
        await js.wait_awareness("c1", has=ids["c0"], state={"user": "ann"})
        await js.wait_awareness("c2", has=ids["c0"], state={"user": "ann"})
        await js.destroy("c0")
        await js.wait_awareness("c1", lacks=ids["c0"])
        await js.wait_awareness("c2", lacks=ids["c0"])
        assert await stored_text(valkey, s3, room) == text
    finally:
        await stop_all(pods)


async def test_killing_a_pod_mid_typing_loses_no_edit(
    tmp_path: Path, valkey: Valkey, s3: S3Server, js: YjsClients, room: str
) -> None:
    env = cluster_env(valkey, s3, TANDEM_COMPACT_ENTRIES="50")
    pods = await start_pods(tmp_path, env)
    try:
        async with Balancer([p.port for p in pods]) as balancer:
            names = [f"c{i}" for i in range(6)]
            for name in names:  # round-robin: two clients on every pod
                await js.connect(name, balancer.ws_url, room)
            typing = [
                asyncio.create_task(js.random_edits(n, count=150, seed=i, rate_per_sec=50))
                for i, n in enumerate(names)
            ]
            await log_reaches(valkey, room, 200)  # well into the run, far from its end
            await pods[1].kill()
            await asyncio.gather(*typing)
            text = await js.converge(*names, timeout_ms=30000)
        # Every pod restarts; a fresh load from Redis + S3 has every edit.
        await stop_all(pods)
        assert await stored_text(valkey, s3, room) == text
        restarted = await start_pods(tmp_path / "again", env)
        try:
            await js.connect("fresh", restarted[2].ws_url, room)
            await js.wait_text("fresh", equals=text)
        finally:
            await stop_all(restarted)
    finally:
        await stop_all(pods)


async def test_redis_restart_mid_run_loses_nothing(
    tmp_path: Path, s3: S3Server, js: YjsClients, room: str
) -> None:
    # appendfsync always: every acknowledged append is on disk before Redis answers.
    with running(Valkey(tmp_path / "valkey-aof", appendonly=True)) as valkey:
        assert isinstance(valkey, Valkey)
        env = cluster_env(valkey, s3)
        pods = await start_pods(tmp_path, env, count=2)
        try:
            names = ["a", "b"]
            for i, name in enumerate(names):
                await js.connect(name, pods[i].ws_url, room)
            typing = [
                asyncio.create_task(js.random_edits(n, count=120, seed=i, rate_per_sec=40))
                for i, n in enumerate(names)
            ]
            await log_reaches(valkey, room, 60)
            valkey.restart()
            await asyncio.gather(*typing)
            text = await js.converge(*names, timeout_ms=30000)
            assert await stored_text(valkey, s3, room) == text
        finally:
            await stop_all(pods)


async def test_compactions_racing_between_pods_are_harmless(
    tmp_path: Path, valkey: Valkey, s3: S3Server, js: YjsClients, room: str
) -> None:
    env = cluster_env(valkey, s3, TANDEM_COMPACT_ENTRIES="10")
    pods = await start_pods(tmp_path, env)
    try:
        names = [f"c{i}" for i in range(3)]
        for i, name in enumerate(names):
            await js.connect(name, pods[i].ws_url, room)
        await asyncio.gather(
            *(js.random_edits(n, count=150, seed=i, rate_per_sec=100) for i, n in enumerate(names))
        )
        text = await js.converge(*names, timeout_ms=20000)
        redis = Redis.from_url(valkey.url)
        try:
            # Each pod compacts on its own trigger; wait until the log was folded at least once.
            async def trimmed() -> None:
                while await redis.xlen(f"tandem:doc:{room}:log") >= 450:
                    await asyncio.sleep(0.1)  # compaction runs on the pods' own timers

            await asyncio.wait_for(trimmed(), 15)
        finally:
            await redis.aclose()
        assert await stored_text(valkey, s3, room) == text
    finally:
        await stop_all(pods)


async def test_a_stalled_pod_recovers_what_another_pods_compaction_trimmed(
    tmp_path: Path, valkey: Valkey, s3: S3Server, js: YjsClients, room: str
) -> None:
    env = cluster_env(valkey, s3, TANDEM_COMPACT_ENTRIES="5")
    pods = await start_pods(tmp_path, env, count=2)
    stalled, live = pods
    redis = Redis.from_url(valkey.url)
    key = f"tandem:doc:{room}:log"
    try:
        await js.connect("stalled", stalled.ws_url, room)
        await js.connect("live", live.ws_url, room)
        await js.insert("live", 0, "seen by both. ")
        await js.converge("stalled", "live")
        before = (await redis.xinfo_stream(key))["entries-added"]
        assert stalled.proc is not None
        stalled.proc.send_signal(signal.SIGSTOP)  # a long GC pause, a throttled container
        try:
            for i in range(20):
                await js.insert("live", 0, f"{i} ")
            await log_reaches(valkey, room, before + 20)

            # The live pod compacts on its own timer; wait until it trimmed entries appended
            # after the stall, which the stalled pod never read.
            async def trimmed() -> None:
                while True:
                    info = await redis.xinfo_stream(key)
                    if info["entries-added"] - info["length"] > before:
                        return
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(trimmed(), 15)
        finally:
            stalled.proc.send_signal(signal.SIGCONT)
        text = await js.converge("stalled", "live", timeout_ms=15000)
        assert text.startswith("19 18 ") and text.endswith("0 seen by both. ")
        assert await stored_text(valkey, s3, room) == text
    finally:
        await redis.aclose()
        await stop_all(pods)


async def test_rolling_restart_with_sigterm_loses_no_edit(
    tmp_path: Path, valkey: Valkey, s3: S3Server, js: YjsClients, room: str
) -> None:
    env = cluster_env(valkey, s3, TANDEM_SHUTDOWN_GRACE_S="5")
    pods = await start_pods(tmp_path, env, count=2)
    try:
        async with Balancer([p.port for p in pods]) as balancer:
            names = [f"c{i}" for i in range(4)]
            for name in names:
                await js.connect(name, balancer.ws_url, room)
            typing = [
                asyncio.create_task(js.random_edits(n, count=200, seed=i, rate_per_sec=40))
                for i, n in enumerate(names)
            ]
            for index in range(len(pods)):  # one pod at a time, as a Deployment rolls
                await log_reaches(valkey, room, 150 * (index + 1))
                old = pods[index]
                # Graceful: exits by itself (uvicorn re-raises SIGTERM), not killed at the deadline.
                assert await old.terminate(timeout_s=10) in (0, -15)
                pods[index] = await pod(tmp_path / f"rolled-{index}", index, env, old.port).start()
            await asyncio.gather(*typing)
            text = await js.converge(*names, timeout_ms=30000)
        assert await stored_text(valkey, s3, room) == text
    finally:
        await stop_all(pods)
