"""Reading JSON request bodies at the HTTP boundary, with clear 400s for bad input."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .errors import bad_request, too_large

MAX_JSON_BYTES = 1024 * 1024


async def read_json(request: Request) -> dict[str, Any]:
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
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("the body is not valid JSON", "invalid_json") from None
    if not isinstance(value, dict):
        raise bad_request("the body must be a JSON object", "invalid_json")
    return value


def string_field(
    body: dict[str, Any], name: str, *, required: bool = True, max_length: int = 10_000
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"'{name}' is required", "missing_field")
        return None
    if not isinstance(value, str):
        raise bad_request(f"'{name}' must be a string", "invalid_field")
    if len(value) > max_length:
        raise bad_request(f"'{name}' is longer than {max_length} characters", "invalid_field")
    return value
