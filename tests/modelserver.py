"""An OpenAI-compatible HTTP server for tests, scripted per test, recording every request.

    async with ModelServer() as model:
        model.script(Reply("Hello world", rate_per_s=50))      # the next request gets this
        model.script(Fail(429, retry_after=1), Reply("ok"))     # then these, in order
        ... point the openai SDK (or TANDEM_OPENAI_BASE_URL) at model.base_url ...
        assert "secret" not in model.requests[0].text

Requests take scripted behaviours first-in first-out; with none left they get ``default``.
``script_for(match, ...)`` queues behaviours only for requests whose body text contains
``match`` (for tests where requests arrive concurrently).

Behaviours: ``Reply`` (streamed token by token at a fixed rate when the request streams, one
JSON body otherwise), ``Fail`` (an HTTP error with an OpenAI error body and optional
Retry-After), ``Hang`` (answers nothing for a while: client timeouts), ``Malformed`` (a stream
that turns into garbage), ``Cut`` (the connection closes mid-stream).

To extend (files, fine-tuning jobs), subclass and override ``extra_routes()``: the routes get
``self`` through the closure; call ``self.record(request, body)`` to keep the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route


@dataclass
class Reply:
    text: str = "OK"
    tokens: list[str] | None = None
    """How the text is split into stream chunks; by default, words with their spaces."""
    rate_per_s: float | None = None
    """Tokens per second after the first; None: as fast as possible."""
    first_token_delay_s: float = 0.0
    usage: bool = True

    def chunks(self) -> list[str]:
        if self.tokens is not None:
            return list(self.tokens)
        words = self.text.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words) if w or i]


@dataclass
class Fail:
    status: int = 500
    retry_after: float | None = None
    message: str = "scripted failure"


@dataclass
class Hang:
    seconds: float = 30.0


@dataclass
class Malformed:
    after_tokens: list[str] = field(default_factory=lambda: ["Hal", "lo"])
    garbage: str = "data: {this is not json\n\n"


@dataclass
class Cut:
    after_tokens: list[str] = field(default_factory=lambda: ["Hal", "lo"])


Behaviour = Reply | Fail | Hang | Malformed | Cut


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    first_token_at: float | None = None
    finished_at: float | None = None
    behaviour: Behaviour | None = None

    @property
    def text(self) -> str:
        """The whole body as text, for "did X reach the model" checks."""
        return json.dumps(self.body, ensure_ascii=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ModelServer:
    def __init__(self, default: Behaviour | None = None, model_id: str = "test-model") -> None:
        self.default: Behaviour = default or Reply("OK")
        self.model_id = model_id
        self.port = _free_port()
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Behaviour] = deque()
        self._targeted: list[tuple[str, deque[Behaviour]]] = []
        self._ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *behaviours: Behaviour) -> None:
        self._queue.extend(behaviours)

    def script_for(self, match: str, *behaviours: Behaviour) -> None:
        self._targeted.append((match, deque(behaviours)))

    def _next(self, body_text: str) -> Behaviour:
        for match, queue in self._targeted:
            if match in body_text and queue:
                return queue.popleft()
        return self._queue.popleft() if self._queue else self.default

    async def wait_requests(self, count: int, timeout_s: float = 20.0) -> list[RecordedRequest]:
        """Waits until at least ``count`` requests arrived."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.requests) >= count), timeout_s
            )
        return self.requests

    async def record(self, request: Request, body: Any) -> RecordedRequest:
        recorded = RecordedRequest(
            request.method, request.url.path, dict(request.headers), body, time.time()
        )
        self.requests.append(recorded)
        async with self._changed:
            self._changed.notify_all()
        return recorded

    # -- HTTP --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
            *self.extra_routes(),
        ]

    def extra_routes(self) -> list[BaseRoute]:
        return []

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": self.model_id, "object": "model"}]})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        recorded = await self.record(request, body)
        behaviour = self._next(recorded.text)
        recorded.behaviour = behaviour
        model = body.get("model", self.model_id)
        if isinstance(behaviour, Fail):
            headers = {}
            if behaviour.retry_after is not None:
                headers["retry-after"] = str(behaviour.retry_after)
            error = {"message": behaviour.message, "type": "server_error", "code": None}
            return JSONResponse({"error": error}, status_code=behaviour.status, headers=headers)
        if isinstance(behaviour, Hang):
            await asyncio.sleep(behaviour.seconds)
            return JSONResponse({"error": {"message": "hung up"}}, status_code=504)
        if not body.get("stream"):
            if isinstance(behaviour, Reply):
                await asyncio.sleep(behaviour.first_token_delay_s)
                recorded.first_token_at = recorded.finished_at = time.time()
                return JSONResponse(self._completion(model, behaviour))
            return Response(b'{"id": "broken', media_type="application/json")
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        stream = self._stream(recorded, model, behaviour, include_usage)
        return StreamingResponse(stream, media_type="text/event-stream")

    def _completion(self, model: str, reply: Reply) -> dict[str, Any]:
        usage = self._usage(reply) if reply.usage else None
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": "stop",
                }
            ],
            **({"usage": usage} if usage else {}),
        }

    @staticmethod
    def _usage(reply: Reply) -> dict[str, int]:
        completion = len(reply.chunks())
        return {
            "prompt_tokens": 42,
            "completion_tokens": completion,
            "total_tokens": 42 + completion,
        }

    async def _stream(
        self, recorded: RecordedRequest, model: str, behaviour: Behaviour, include_usage: bool
    ) -> AsyncIterator[bytes]:
        chunk_id = f"chatcmpl-{next(self._ids)}"

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            payload = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload)}\n\n".encode()

        if isinstance(behaviour, Reply):
            await asyncio.sleep(behaviour.first_token_delay_s)
            tokens = behaviour.chunks()
        else:
            tokens = list(behaviour.after_tokens)  # type: ignore[union-attr]
        interval = (
            1.0 / behaviour.rate_per_s
            if isinstance(behaviour, Reply) and behaviour.rate_per_s
            else 0.0
        )
        for i, token in enumerate(tokens):
            if i and interval:
                await asyncio.sleep(interval)  # pacing the model, not synchronising the test
            delta = {"role": "assistant", "content": token} if i == 0 else {"content": token}
            yield event(delta)
            if recorded.first_token_at is None:
                recorded.first_token_at = time.time()
        if isinstance(behaviour, Malformed):
            yield behaviour.garbage.encode()
            return
        if isinstance(behaviour, Cut):
            raise ConnectionResetError("scripted cut")  # uvicorn drops the connection
        yield event({}, "stop")
        if include_usage and isinstance(behaviour, Reply) and behaviour.usage:
            payload = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": self._usage(behaviour),
            }
            yield f"data: {json.dumps(payload)}\n\n".encode()
        yield b"data: [DONE]\n\n"
        recorded.finished_at = time.time()

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        config = uvicorn.Config(
            Starlette(routes=self.routes()),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve())
        deadline = time.monotonic() + 10
        while not self._server.started:
            if self._task.done():
                self._task.result()
            if time.monotonic() > deadline:
                raise TimeoutError("model server did not start")
            await asyncio.sleep(0.01)  # uvicorn exposes no event for "listening"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        self._server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await asyncio.wait_for(self._task, 5)
            except TimeoutError:
                self._task.cancel()
