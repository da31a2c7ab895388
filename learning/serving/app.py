"""The HTTP side of ``tandem model serve``: OpenAI's chat completions wire format.

    GET  /v1/models              the base and the adapters loaded now
    POST /v1/chat/completions    stream true (server-sent events, ``data: [DONE]``) or false
    GET  /healthz

Bodies are strict JSON (``sync.strict_json``, as the Tandem API reads them: no NaN or
Infinity, numbers finite doubles, nesting bounded) and validated before anything is
generated: a bad one is a 400, an unknown adapter a 404, and nothing a client sends makes a
500."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from learning.artifacts import AdapterName, ArtifactError, Objects
from learning.models import BaseModel
from sync import strict_json

from . import BadRequestError, ModelNotFoundError, ServingError
from .adapters import AdapterCache, LocalAdapter
from .generation import Generated, Generator, Sampling

log = logging.getLogger(__name__)

ADAPTER_HEADER = "x-tandem-adapter"
MAX_BODY_BYTES = 1024 * 1024
_ROLES = ("system", "user", "assistant")
_UNSUPPORTED = ("tools", "functions", "tool_choice", "logprobs", "response_format", "stop")


@dataclass
class ModelServer:
    base: BaseModel
    adapters: AdapterCache
    generator: Generator
    started: int


@contextlib.asynccontextmanager
async def open_model_server(
    base: BaseModel,
    objects: Objects,
    *,
    cache_dir: Path,
    max_adapters: int,
    max_new_tokens: int,
    revalidate_s: float = 30.0,
) -> AsyncIterator[ModelServer]:
    """Loads the base once (on the model's thread) and fetches adapters into ``cache_dir``."""
    from learning import models

    tokenizer = models.load_tokenizer(base)
    model = models.load_model(base)
    model.eval()
    generator = Generator(
        model, tokenizer, max_adapters=max_adapters, max_new_tokens=max_new_tokens
    )
    try:
        cache = AdapterCache(objects, base, cache_dir, revalidate_s=revalidate_s)
        yield ModelServer(base, cache, generator, int(time.time()))
    finally:
        generator.close()


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    sampling: Sampling
    stream: bool
    include_usage: bool


def parse_chat(body: Any, max_new_tokens: int) -> ChatRequest:
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequestError("model must be a non-empty string", param="model")
    for name in _UNSUPPORTED:
        if body.get(name) not in (None, False, [], {"type": "text"}):
            raise BadRequestError(f"{name} is not supported", code="unsupported", param=name)
    if body.get("n") not in (None, 1):
        raise BadRequestError("n must be 1", code="unsupported", param="n")
    stream = _optional(body, "stream", bool, False)
    options = _optional(body, "stream_options", dict, {})
    include_usage = _optional(options, "include_usage", bool, False)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is None:
        max_tokens = max_new_tokens
    if not _is_int(max_tokens) or max_tokens < 1:
        raise BadRequestError("max_tokens must be a positive integer", param="max_tokens")
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    if top_p == 0:
        raise BadRequestError("top_p must be above 0", param="top_p")
    seed = body.get("seed")
    if seed is not None and not (_is_int(seed) and 0 <= seed < 2**63):
        raise BadRequestError("seed must be a non-negative integer", param="seed")
    return ChatRequest(
        model,
        _messages(body.get("messages")),
        Sampling(max_tokens, temperature, top_p, seed),
        stream,
        include_usage,
    )


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise BadRequestError("messages must be a non-empty list", param="messages")
    messages = []
    for index, message in enumerate(value):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise BadRequestError(f"{param} must be an object", param=param)
        role, content = message.get("role"), message.get("content")
        if role not in _ROLES:
            raise BadRequestError(f"{param}.role must be one of {', '.join(_ROLES)}", param=param)
        if not isinstance(content, str):
            raise BadRequestError(f"{param}.content must be a string", param=param)
        try:
            content.encode()
        except UnicodeEncodeError:
            # JSON may carry lone surrogates; the tokenizer takes only valid text.
            raise BadRequestError(f"{param}.content is not valid Unicode", param=param) from None
        messages.append({"role": role, "content": content})
    return messages


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise BadRequestError(f"{name} must be a {kind.__name__}", param=name)
    return value


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequestError(f"{name} must be a number", param=name)
    if not low <= value <= high:
        raise BadRequestError(f"{name} must be between {low:g} and {high:g}", param=name)
    return float(value)


def create_app(open_server: Callable[[], AbstractAsyncContextManager[ModelServer]]) -> Starlette:
    """``open_server`` runs as the app's lifespan; the routes find it on ``app.state.server``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_server() as server:
            app.state.server = server
            yield

    app = Starlette(
        routes=[
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers={
            ServingError: _serving_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
        lifespan=lifespan,
    )
    return app


async def list_models(request: Request) -> Response:
    server: ModelServer = request.app.state.server
    base = _model_card(server.base.id, server.started, None, server.base.id)
    adapters = [
        _model_card(name, server.started, server.base.id, server.base.id)
        for name in server.generator.adapters.names()
    ]
    return JSONResponse({"object": "list", "data": [base, *adapters]})


async def healthz(request: Request) -> Response:
    server: ModelServer = request.app.state.server
    return JSONResponse(
        {
            "status": "ok",
            "base_model": server.base.id,
            "base_revision": server.base.revision,
            "adapters": server.generator.adapters.names(),
        }
    )


async def chat_completions(request: Request) -> Response:
    server: ModelServer = request.app.state.server
    chat = parse_chat(await _json_body(request), server.generator.max_new_tokens)
    adapter = await _adapter_for(server, chat.model)
    served = server.base.id if adapter is None else str(adapter.name)
    prompt = server.generator.prompt(chat.messages)
    headers = {ADAPTER_HEADER: served}
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not chat.stream:
        done = await server.generator.complete(prompt, chat.sampling, adapter)
        return JSONResponse(_completion(completion_id, created, served, done), headers=headers)
    events = server.generator.stream(prompt, chat.sampling, adapter)
    return StreamingResponse(
        _sse(events, completion_id, created, served, chat.include_usage),
        media_type="text/event-stream",
        headers={**headers, "cache-control": "no-cache"},
    )


async def _json_body(request: Request) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequestError("the body is too large", code="body_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadRequestError("the body is too large", code="body_too_large")
    try:
        return strict_json.loads(body.decode("utf-8"))
    except ValueError as exc:  # StrictJsonError, UnicodeDecodeError
        raise BadRequestError(f"the body is not JSON: {exc}", code="invalid_json") from None


async def _adapter_for(server: ModelServer, model: str) -> LocalAdapter | None:
    if model == server.base.id:
        return None
    try:
        name = AdapterName.parse(model)
    except ArtifactError:
        raise ModelNotFoundError(
            f"{model!r} is neither {server.base.id} nor an adapter name (workspace/run)",
            param="model",
        ) from None
    return await server.adapters.fetch(name)


async def _sse(
    events: AsyncIterator[str | Generated],
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, str], finish_reason: str | None) -> bytes:
        body: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        if include_usage:
            body["usage"] = None
        return _event(body)

    yield chunk({"role": "assistant", "content": ""}, None)
    try:
        async for event in events:
            if isinstance(event, str):
                yield chunk({"content": event}, None)
                continue
            yield chunk({}, event.finish_reason)
            if include_usage:
                yield _event(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": _usage(event),
                    }
                )
    except ServingError as exc:
        yield _event(exc.body())  # the status is sent already; the SDK raises on this event
    except Exception:
        log.exception("generation failed for %s", model)
        yield _event(_internal_error().body())
    yield b"data: [DONE]\n\n"


def _event(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def _completion(completion_id: str, created: int, model: str, done: Generated) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": done.text},
                "finish_reason": done.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": _usage(done),
    }


def _usage(done: Generated) -> dict[str, int]:
    return {
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "total_tokens": done.prompt_tokens + done.completion_tokens,
    }


def _model_card(model_id: str, created: int, parent: str | None, root: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": "tandem",
        "root": root,
        "parent": parent,
    }


class _InternalError(ServingError):
    status = 500
    type = "server_error"
    code = "internal_error"


def _internal_error() -> ServingError:
    return _InternalError("the model server failed; see its log")


async def _serving_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServingError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    error = BadRequestError(str(exc.detail), code=code)
    return JSONResponse(error.body(), status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("failed %s %s", request.method, request.url.path, exc_info=exc)
    error = _internal_error()
    return JSONResponse(error.body(), status_code=error.status)
