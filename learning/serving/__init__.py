"""``tandem model serve``: OpenAI-compatible chat completions over one base model and the
LoRA adapters of the learning loop (transformers + peft, for CPUs and small GPUs; vLLM serves
the same names in a cluster with GPUs).

    app.py          the HTTP wire format (/v1/chat/completions, /v1/models, /healthz)
    adapters.py     adapters fetched from object storage by name and kept loaded, LRU-bounded
    generation.py   one generation at a time on the model's own thread, streamed

The request's ``model`` is the base model's id or an adapter's name ``{workspace}/{run}``
(``learning.artifacts.AdapterName``); the response's ``model`` and its ``x-tandem-adapter``
header name which one answered. Errors carry OpenAI's JSON shape and the codes below."""

from __future__ import annotations


class ServingError(Exception):
    """What a client is told: an HTTP status and OpenAI's ``{"error": {...}}`` fields."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "code": self.code,
                "param": self.param,
            }
        }


class BadRequestError(ServingError):
    def __init__(
        self, message: str, *, code: str = "invalid_request", param: str | None = None
    ) -> None:
        super().__init__(message, param=param)
        self.code = code


class ModelNotFoundError(ServingError):
    status = 404
    code = "model_not_found"


class AdapterBaseMismatchError(ServingError):
    """The adapter was trained on another base (or revision): its weights mean nothing here."""

    code = "adapter_base_mismatch"


class AdapterInvalidError(ServingError):
    """The stored adapter is incomplete or corrupt (a file missing, a digest that differs)."""

    status = 422
    code = "adapter_invalid"


class StorageUnavailableError(ServingError):
    """Object storage failed while fetching an adapter; the SDK retries a 503."""

    status = 503
    type = "server_error"
    code = "storage_unavailable"
