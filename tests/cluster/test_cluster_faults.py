"""The cluster store under faults: Redis restarts, crashed compactions, S3 outages, races."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from server.backends import redis_durability_warnings, s3_client
from sync.redis_s3_store import RedisS3Store
from sync.snapshot_store import SnapshotRef, SnapshotStore
from sync.store import LogEntry, LogGap, StoreError
from sync.stream_follower import StreamFollower
from sync.types import DocId, Origin
from tests.cluster.pods import cluster_env, pod
from tests.cluster.services import S3Server, Valkey, free_port, running
from tests.pyclient import PyClient
from tests.typing_doc import Typist, rebuild

ORIGIN = Origin("pod-a")


def doc_id() -> DocId:
    return DocId(f"doc-{uuid.uuid4().hex[:10]}")


async def test_tail_resumes_after_a_redis_restart_without_gap_or_duplicate(
    tmp_path: Path, s3: S3Server
) -> None:
    with running(Valkey(tmp_path / "v", appendonly=True)) as valkey:
        assert isinstance(valkey, Valkey)
        store = RedisS3Store(
            Redis.from_url(valkey.url, socket_timeout=5), SnapshotStore(s3.client(), "tandem-test")
        )
        doc, typist = doc_id(), Typist()
        seen: list[str] = []
        appended: list[str] = []
        all_seen = asyncio.Event()

        async def follow() -> None:
            async with StreamFollower(store._redis, Origin("pod-f")) as streams:
                async for entry in streams.tail(doc, None):
                    seen.append(entry.id)
                    if len(seen) == 60:
                        all_seen.set()

        follower = asyncio.create_task(follow())
        try:
            for i in range(30):
                appended.append(await store.append(doc, typist.type(f"{i},"), ORIGIN))
            valkey.restart()
            for i in range(30, 60):
                while True:  # the writer retries until Redis is back, as a client would
                    try:
                        appended.append(await store.append(doc, typist.type(f"{i},"), ORIGIN))
                        break
                    except StoreError:
                        await asyncio.sleep(0.05)
            await asyncio.wait_for(all_seen.wait(), 15)
        finally:
            follower.cancel()
            await store.aclose()
        assert seen == appended  # every entry once, in order


async def test_compaction_interrupted_before_trim_loses_nothing(
    cluster_store: RedisS3Store,
) -> None:
    doc, typist = doc_id(), Typist()
    for i in range(20):
        await cluster_store.append(doc, typist.type(f"{i} "), ORIGIN)
    # A pod dies right after writing its snapshot, before trimming the stream.
    loaded = await cluster_store.load(doc)
    from pycrdt import merge_updates

    assert loaded.last_id is not None
    written = await cluster_store.snapshots.put(doc, loaded.last_id, merge_updates(*loaded.updates))
    await cluster_store._redis.set(f"tandem:doc:{doc}:snapshot", written.key)
    for i in range(20, 25):
        await cluster_store.append(doc, typist.type(f"{i} "), ORIGIN)
    assert rebuild((await cluster_store.load(doc)).updates) == str(typist.text)
    # The next compaction finishes the job: one snapshot, an empty stream.
    assert await cluster_store.compact(doc)
    assert len(await cluster_store.snapshots.refs(doc)) == 1
    assert (await cluster_store.stats(doc)).entries == 0
    assert rebuild((await cluster_store.load(doc)).updates) == str(typist.text)


async def test_s3_outage_fails_compaction_but_not_appends(valkey: Valkey) -> None:
    nothing_listens = f"127.0.0.1:{free_port()}"
    store = RedisS3Store(
        Redis.from_url(valkey.url, socket_timeout=5),
        SnapshotStore(s3_client(nothing_listens, "k", "s", secure=False), "tandem-test"),
    )
    doc, typist = doc_id(), Typist()
    try:
        await store.append(doc, typist.type("typed while S3 is down"), ORIGIN)
        with pytest.raises(StoreError):
            await store.compact(doc)
        assert (await store.stats(doc)).entries == 1  # nothing trimmed, nothing lost
    finally:
        await store.aclose()


async def test_pod_stays_ready_and_editable_while_s3_is_down(
    tmp_path: Path, valkey: Valkey, s3: S3Server
) -> None:
    env = cluster_env(valkey, s3, TANDEM_S3_ENDPOINT=f"127.0.0.1:{free_port()}")
    async with pod(tmp_path, 0, env) as server:
        async with httpx.AsyncClient() as http:
            ready = await http.get(f"{server.http_url}/readyz")
        assert ready.status_code == 200
        assert "s3" in ready.json()["degraded"]
        async with (
            PyClient(f"{server.ws_url}/s3-down") as a,
            PyClient(f"{server.ws_url}/s3-down") as b,
        ):
            await a.insert(0, "still editing")
            await b.wait_text("still editing")


async def test_lease_lets_one_pod_compact_at_a_time(valkey: Valkey, s3: S3Server) -> None:
    from sync.lease import Lease

    redis = Redis.from_url(valkey.url)
    try:
        first = Lease(redis, "tandem:test:lease", ttl_ms=5000)
        second = Lease(redis, "tandem:test:lease", ttl_ms=5000)
        async with first.hold() as got_first, second.hold() as got_second:
            assert got_first and not got_second
        async with second.hold() as got_second:
            assert got_second  # released by its holder
    finally:
        await redis.aclose()


async def test_crashed_holders_lease_expires(valkey: Valkey) -> None:
    from sync.lease import Lease

    redis = Redis.from_url(valkey.url)
    try:
        await redis.set("tandem:test:orphan", "dead-pod", px=200)  # a holder that died
        lease = Lease(redis, "tandem:test:orphan", ttl_ms=5000)
        async with lease.hold() as got:
            assert not got

        async def until_free() -> None:
            while await redis.exists("tandem:test:orphan"):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(until_free(), 5)
        async with lease.hold() as got:
            assert got
    finally:
        await redis.aclose()


async def test_durability_check_flags_eviction_and_missing_aof(valkey: Valkey) -> None:
    redis = Redis.from_url(valkey.url)
    try:
        await redis.config_set("maxmemory-policy", "allkeys-lru")
        warnings = await redis_durability_warnings(redis)
        assert any("allkeys-lru" in w for w in warnings)
        assert any("appendonly is off" in w for w in warnings)
        await redis.config_set("maxmemory-policy", "noeviction")
        assert not any("maxmemory" in w for w in await redis_durability_warnings(redis))
    finally:
        await redis.aclose()


async def test_one_follower_serves_many_documents_and_wakes_for_new_ones(
    tmp_path: Path, cluster_store: RedisS3Store, valkey: Valkey
) -> None:
    redis = Redis.from_url(valkey.url, socket_timeout=30)
    first, second = doc_id(), doc_id()
    typist = Typist()
    # A long block: a new document is only seen in time if opening it wakes the reader.
    async with StreamFollower(redis, Origin("pod-f"), block_ms=8_000) as follower:
        a = follower.tail(first, None)
        await cluster_store.append(first, typist.type("a"), ORIGIN)
        assert (await asyncio.wait_for(anext(a), 5)).origin == ORIGIN
        b = follower.tail(second, None)
        pending = asyncio.ensure_future(anext(b))
        await cluster_store.append(second, typist.type("b"), ORIGIN)
        entry = await asyncio.wait_for(pending, 4)
        assert entry.update == typist.updates[-1]
        await a.aclose()
        await b.aclose()
    await redis.aclose()


async def test_a_follower_behind_a_trim_is_told_of_the_gap(
    cluster_store: RedisS3Store, valkey: Valkey
) -> None:
    doc, typist = doc_id(), Typist()
    ids = [await cluster_store.append(doc, typist.type(f"{i} "), ORIGIN) for i in range(6)]
    await cluster_store.log.trim(doc, ids[3])  # another pod compacted up to the fourth entry
    redis = Redis.from_url(valkey.url, socket_timeout=30)
    async with StreamFollower(redis, Origin("pod-f")) as follower:
        behind = follower.tail(doc, ids[1])  # had read two entries when the trim came
        got = [await asyncio.wait_for(anext(behind), 5) for _ in range(3)]
        assert [type(g) for g in got] == [LogEntry, LogEntry, LogGap]
        assert [g.id for g in got[:2] if isinstance(g, LogEntry)] == ids[4:]
        level = follower.tail(doc, ids[3])  # had read everything the trim removed
        await cluster_store.append(doc, typist.type("next"), ORIGIN)
        got = [await asyncio.wait_for(anext(level), 5) for _ in range(3)]
        assert all(isinstance(g, LogEntry) for g in got)  # no gap reported
        await behind.aclose()
        await level.aclose()

        # A follower that read an entry, then a hundred more, before a trim up to that entry
        # came: nothing was lost, so no gap, however many entries came in between.
        other = doc_id()
        caught_up = follower.tail(other, None)
        early = [await cluster_store.append(other, typist.type("e"), ORIGIN) for _ in range(5)]
        for _ in early:
            await asyncio.wait_for(anext(caught_up), 5)
        for _ in range(100):
            await cluster_store.append(other, typist.type("m"), ORIGIN)
        got = [await asyncio.wait_for(anext(caught_up), 5) for _ in range(100)]
        await cluster_store.log.trim(other, early[2])
        last = await cluster_store.append(other, typist.type("last"), ORIGIN)
        after_trim = await asyncio.wait_for(anext(caught_up), 5)
        assert isinstance(after_trim, LogEntry) and after_trim.id == last
        await caught_up.aclose()
    await redis.aclose()


async def test_a_load_racing_a_compaction_reads_again(
    cluster_store: RedisS3Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc, typist = doc_id(), Typist()
    for i in range(10):
        await cluster_store.append(doc, typist.type(f"{i} "), ORIGIN)
    assert await cluster_store.compact(doc)
    # The load lists the snapshots as they were just before that compaction (none), then
    # reads a stream the compaction has already trimmed.
    listed_before = [True]
    real_refs = cluster_store.snapshots.refs

    async def refs_as_before(doc_id: DocId) -> list[SnapshotRef]:
        if listed_before.pop() if listed_before else False:
            return []
        return await real_refs(doc_id)

    monkeypatch.setattr(cluster_store.snapshots, "refs", refs_as_before)
    await cluster_store.append(doc, typist.type("after"), ORIGIN)
    assert rebuild((await cluster_store.load(doc)).updates) == str(typist.text)
    assert not listed_before  # the stale listing was used once


async def test_appends_of_one_turn_keep_their_order_per_document(
    cluster_store: RedisS3Store,
) -> None:
    # Fifty appends to five documents in one loop turn: they go out as one pipeline.
    docs = [doc_id() for _ in range(5)]
    typists = {doc: Typist() for doc in docs}
    calls = [(doc, typists[doc].type(f"{i} ")) for i in range(10) for doc in docs]
    ids = await asyncio.gather(*(cluster_store.append(d, u, ORIGIN) for d, u in calls))
    for doc in docs:
        mine = [i for (d, _), i in zip(calls, ids, strict=True) if d == doc]
        assert mine == sorted(set(mine), key=lambda i: tuple(map(int, i.split("-"))))
        loaded = await cluster_store.load(doc)
        assert loaded.updates == typists[doc].updates
