"""Admission limits over HTTP: the per-user rate and the per-workspace stream cap answer 429
with Retry-After, and a finished stream frees its slot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from assistant.limits import Limiter, MemoryLimiter, RateLimitedError, RedisLimiter
from tests.accounts import sign_up
from tests.assistant.conftest import ask, server_env, wait_status
from tests.cluster.services import Valkey, running
from tests.modelserver import ModelServer, Reply
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients


@pytest.fixture(scope="module")
async def limited(
    tmp_path_factory: pytest.TempPathFactory, model: ModelServer
) -> AsyncIterator[TandemProcess]:
    env = server_env(
        model, TANDEM_ASSISTANT_RATE_PER_MIN="4", TANDEM_ASSISTANT_STREAMS_PER_WORKSPACE="1"
    )
    async with TandemProcess(tmp_path_factory.mktemp("limits"), env=env) as proc:
        yield proc


async def test_stream_cap_then_rate_limit(
    limited: TandemProcess, model: ModelServer, js: YjsClients
) -> None:
    alice = await sign_up(limited.http_url)
    doc = await alice.create_doc(await alice.create_workspace())
    await js.connect("a", limited.ws_url, doc, params={"token": alice.token})
    await js.insert("a", 0, "limits are good")
    model.script_for("are good", Reply(tokens=["z"] * 30, rate_per_s=60))
    first = await ask(alice, doc, 0, 6)
    busy = await alice.request(
        "POST",
        f"/api/docs/{doc}/assist",
        json={"instruction": "x", "mode": "rewrite", "range": {"start": 0, "end": 6}},
        expect=429,
    )
    assert "streaming" in busy.json()["error"]["message"]
    assert int(busy.headers["retry-after"]) >= 1
    await wait_status(alice, doc, first, "pending")
    # The slot is free again; the rate (4 a minute, refusals not counted) runs out next.
    for _ in range(3):
        sid = await ask(alice, doc, 0, 6)
        await wait_status(alice, doc, sid, "pending")
    limited_answer = await alice.request(
        "POST",
        f"/api/docs/{doc}/assist",
        json={"instruction": "x", "mode": "rewrite", "range": {"start": 0, "end": 6}},
        expect=429,
    )
    assert "a minute" in limited_answer.json()["error"]["message"]
    assert 1 <= int(limited_answer.headers["retry-after"]) <= 60


@pytest.fixture(scope="module")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valkey]:
    with running(Valkey(tmp_path_factory.mktemp("limits-valkey"))) as server:
        yield server  # type: ignore[misc]


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, valkey: Valkey) -> AsyncIterator[Limiter]:
    if request.param == "memory":
        yield MemoryLimiter(3, 2, stream_ttl_s=60)
        return
    redis = Redis.from_url(valkey.url)
    await redis.flushdb()
    yield RedisLimiter(redis, 3, 2, stream_ttl_s=60)
    await redis.aclose()


async def test_limiter_contract(limiter: Limiter) -> None:
    await limiter.admit("u1", "w1", "s1")
    await limiter.admit("u2", "w1", "s2")
    with pytest.raises(RateLimitedError, match="streaming") as capped:
        await limiter.admit("u3", "w1", "s3")
    assert capped.value.retry_after_s >= 1
    await limiter.admit("u1", "w2", "s4")  # another workspace has its own slots
    await limiter.release("w1", "s1")
    await limiter.admit("u1", "w1", "s5")
    with pytest.raises(RateLimitedError, match="a minute") as rated:
        await limiter.admit("u1", "w3", "s6")  # u1's fourth request this minute
    assert 1 <= rated.value.retry_after_s <= 60
    await limiter.admit("u3", "w3", "s7")  # others are not affected
