"""The model client: ``openai.AsyncOpenAI`` against OpenAI or any compatible server (vLLM,
Ollama, llama.cpp) by base URL, streaming, with explicit limits.

LESSONS: the SDK defaults to a 10-minute timeout and 2 retries; both are settings here. The
SDK retries 408/409/429/5xx and connection errors with exponential backoff and honours
Retry-After (up to two minutes). A whole request also has a total deadline, and at most
``concurrency`` requests run at once per process. Every failure becomes a ModelError whose
reason is written into the suggestion for every co-editor to see."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import openai
from openai import AsyncStream
from openai.types.chat import ChatCompletion, ChatCompletionChunk


@dataclass(frozen=True)
class ModelConfig:
    base_url: str | None = None
    api_key: str | None = None
    model: str = "gpt-4o-mini"
    timeout_s: float = 30.0
    """Per HTTP request (and per read while streaming)."""
    total_timeout_s: float = 120.0
    """For a whole suggestion, retries included."""
    max_retries: int = 2
    concurrency: int = 8
    temperature: float | None = 0.2
    max_tokens: int = 1024
    stream_usage: bool = True
    """Ask for token usage in the stream (``stream_options.include_usage``)."""


class ModelError(Exception):
    """The model failed; ``reason`` is shown to every co-editor, so it names no secret."""

    def __init__(self, reason: str, kind: str = "other") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        """For metrics: timeout, rate_limited, status, unreachable, malformed, other."""


@dataclass
class Completion:
    text: str
    model: str
    started_at: float
    first_token_at: float | None
    finished_at: float
    prompt_tokens: int | None
    completion_tokens: int | None
    stopped: bool = False
    """The caller stopped the stream (cancelled or stale)."""


TokenSink = Callable[[str], Awaitable[bool]]
"""Receives each piece of text; returns False to stop the stream."""


class ModelClient:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self._client = openai.AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "not-set",
            timeout=config.timeout_s,
            max_retries=config.max_retries,
        )
        self._slots = asyncio.Semaphore(config.concurrency)

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(
        self, messages: list[dict[str, str]], on_text: TokenSink, *, model: str | None = None
    ) -> Completion:
        model = model or self.config.model
        async with self._slots:
            started = time.time()
            try:
                async with asyncio.timeout(self.config.total_timeout_s):
                    return await self._stream(messages, on_text, model, started)
            except TimeoutError:
                raise ModelError(
                    f"the model took longer than {self.config.total_timeout_s:g} s", "timeout"
                ) from None
            except openai.APITimeoutError:
                raise ModelError(
                    f"the model did not answer within {self.config.timeout_s:g} s"
                    f" ({self.config.max_retries} retries)",
                    "timeout",
                ) from None
            except openai.RateLimitError:
                raise ModelError(
                    f"the model is rate limited (429) after {self.config.max_retries} retries",
                    "rate_limited",
                ) from None
            except openai.APIStatusError as exc:
                raise ModelError(f"the model answered HTTP {exc.status_code}", "status") from None
            except openai.APIConnectionError:
                raise ModelError("the model server is unreachable", "unreachable") from None
            except (openai.APIError, ValueError, KeyError, TypeError) as exc:
                # A stream that breaks off or turns into garbage (bad JSON, bad chunks).
                raise ModelError(
                    f"malformed response from the model ({type(exc).__name__})"
                ) from None

    async def _stream(
        self, messages: list[dict[str, str]], on_text: TokenSink, model: str, started: float
    ) -> Completion:
        extra: dict[str, object] = {}
        if self.config.stream_usage:
            extra["stream_options"] = {"include_usage": True}
        if self.config.temperature is not None:
            extra["temperature"] = self.config.temperature
        # The client's public post, not chat.completions.create: create first walks the
        # body through the SDK's type-driven transform, about 0.12 ms per message (19 ms for
        # a thread's 160 turns, most of an answer's overhead to its first token), which
        # changes nothing in a body of plain strings like this one. Retries, timeouts, auth
        # and error types are the client's either way.
        stream = await self._client.post(
            "/chat/completions",
            body={
                "model": model,
                "messages": messages,
                "stream": True,
                "max_tokens": self.config.max_tokens,
                **extra,
            },
            cast_to=ChatCompletion,
            stream=True,
            stream_cls=AsyncStream[ChatCompletionChunk],
        )
        parts: list[str] = []
        first: float | None = None
        usage = None
        answered_model = model
        stopped = False
        finished = False
        try:
            async for chunk in stream:
                answered_model = chunk.model or answered_model
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.finish_reason is not None:
                        finished = True
                    piece = choice.delta.content if choice.delta else None
                    if not piece:
                        continue
                    if first is None:
                        first = time.time()
                    parts.append(piece)
                    if not await on_text(piece):
                        stopped = True
                        break
                if stopped:
                    break
        finally:
            await stream.close()
        if not stopped and not finished:
            raise ModelError("the model's stream ended without finishing", "malformed")
        return Completion(
            text="".join(parts),
            model=answered_model,
            started_at=started,
            first_token_at=first,
            finished_at=time.time(),
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            stopped=stopped,
        )
