"""The model client against the scripted OpenAI-compatible server: the real SDK, its retries,
Retry-After, timeouts and broken streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from assistant.model_client import ModelClient, ModelConfig, ModelError
from tests.modelserver import Cut, Fail, Hang, Malformed, ModelServer, Reply

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def model() -> AsyncIterator[ModelServer]:
    async with ModelServer() as server:
        yield server


def client(model: ModelServer, **config: object) -> ModelClient:
    settings = {"base_url": model.base_url, "api_key": "test-key", "model": "m", **config}
    return ModelClient(ModelConfig(**settings))  # type: ignore[arg-type]


async def collect(c: ModelClient, stop_after: int | None = None) -> tuple[list[str], object]:
    seen: list[str] = []

    async def sink(text: str) -> bool:
        seen.append(text)
        return stop_after is None or len(seen) < stop_after

    result = await c.stream(MESSAGES, sink)
    return seen, result


async def test_streams_tokens_with_usage_and_sends_the_key(model: ModelServer) -> None:
    model.script(Reply("one two three", rate_per_s=200))
    c = client(model)
    seen, result = await collect(c)
    assert seen == ["one ", "two ", "three"]
    assert result.text == "one two three"  # type: ignore[attr-defined]
    assert result.completion_tokens == 3 and result.prompt_tokens == 42  # type: ignore[attr-defined]
    assert model.requests[0].headers["authorization"] == "Bearer test-key"
    assert model.requests[0].body["stream"] is True
    await c.aclose()


async def test_stopping_closes_the_stream_early(model: ModelServer) -> None:
    model.script(Reply("a b c d e f", rate_per_s=100))
    c = client(model)
    seen, result = await collect(c, stop_after=2)
    assert seen == ["a ", "b "] and result.stopped  # type: ignore[attr-defined]
    await c.aclose()


async def test_429_is_retried_after_retry_after(model: ModelServer) -> None:
    model.script(Fail(429, retry_after=0.6), Reply("fine"))
    c = client(model, max_retries=2)
    _, result = await collect(c)
    assert result.text == "fine"  # type: ignore[attr-defined]
    first, second = model.requests
    assert second.received_at - first.received_at >= 0.55  # waited as the server asked
    await c.aclose()


async def test_persistent_errors_fail_with_a_reason(model: ModelServer) -> None:
    model.script(Fail(429, retry_after=0.1), Fail(429, retry_after=0.1))
    c = client(model, max_retries=1)
    with pytest.raises(ModelError, match="rate limited"):
        await collect(c)
    model.script(Fail(500), Fail(500))
    with pytest.raises(ModelError, match="HTTP 500"):
        await collect(c)
    model.script(Fail(400))
    with pytest.raises(ModelError, match="HTTP 400"):
        await collect(c)
    assert len(model.requests) == 5  # 400 is not retried
    await c.aclose()


async def test_timeout_and_broken_streams_fail(model: ModelServer) -> None:
    model.script(Hang(5))
    c = client(model, timeout_s=0.5, max_retries=0)
    with pytest.raises(ModelError, match="did not answer"):
        await collect(c)
    model.script(Malformed())
    with pytest.raises(ModelError, match="malformed"):
        await collect(c)
    model.script(Cut())
    with pytest.raises(ModelError):
        await collect(c)
    model.script(Reply("x"))
    _, result = await collect(c)  # and the client still serves
    assert result.text == "x"  # type: ignore[attr-defined]
    await c.aclose()
