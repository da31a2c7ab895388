"""JSON request bodies, parsed and validated at one boundary, with a 4xx for any bad input.

``read_body(request, Model)`` reads at most ``MAX_JSON_BYTES``, parses them as strict JSON
(``sync.strict_json``: no NaN or Infinity, numbers finite doubles, nesting bounded), refuses
text no store can encode (a lone surrogate such as ``"\\ud800"`` parses, then fails in
MongoDB, S3 and pycrdt), and validates the object against the route's pydantic model in
strict mode: a missing field is 400 ``missing_field``, a wrong one 400 ``invalid_field``.
A model's validators may raise an ``ApiError`` (or a drive error) of their own: it is not a
``ValueError``, so pydantic lets it through to the route as it is."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request

from sync import strict_json

from .errors import ApiError, bad_request, too_large

MAX_JSON_BYTES = 1024 * 1024

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""Only a body with such an escape can hold a surrogate: UTF-8 itself cannot carry one."""


class JsonBody(BaseModel):
    """A route's body: strict types (no "1" for 1, no 1 for true), unknown fields ignored."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


Body = TypeVar("Body", bound=JsonBody)


async def read_body(request: Request, model: type[Body]) -> Body:
    value = await _read_object(request)
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise _invalid(exc) from None


async def _read_object(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_JSON_BYTES:
        raise too_large(f"JSON bodies are at most {MAX_JSON_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise too_large(f"JSON bodies are at most {MAX_JSON_BYTES} bytes")
    if not body:
        return {}
    try:
        value = strict_json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad_request("the body is not UTF-8", "invalid_json") from None
    except strict_json.StrictJsonError as exc:
        raise bad_request(f"the body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(value, dict):
        raise bad_request("the body must be a JSON object", "invalid_json")
    if _SURROGATE_ESCAPE.search(body) and not _encodable(value):
        raise bad_request(
            "the body holds a lone surrogate (\\ud800-\\udfff), which is not text",
            "invalid_json",
        )
    return value


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _invalid(exc: ValidationError) -> ApiError:
    """The first error, in the words the routes used before: the order of a model's fields
    is the order its checks run."""
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return bad_request(f"'{field}' is required", "missing_field")
    return bad_request(f"'{field}': {error['msg']}", "invalid_field")
