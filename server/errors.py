"""HTTP errors as JSON: ``{"error": {"code": "...", "message": "..."}}`` with a fitting status.

Handlers raise ``ApiError``; the app's exception handlers turn it, and anything unexpected,
into that body, so no route formats an error by hand and no traceback reaches a client."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


def unauthorized(message: str = "sign in first") -> ApiError:
    return ApiError(401, "unauthorized", message)


def forbidden(message: str = "your role does not allow this") -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(message: str = "not found") -> ApiError:
    return ApiError(404, "not_found", message)


def conflict(message: str, code: str = "conflict") -> ApiError:
    return ApiError(409, code, message)


def too_large(message: str) -> ApiError:
    return ApiError(413, "too_large", message)


def too_many(message: str, retry_after_s: int) -> ApiError:
    error = ApiError(429, "rate_limited", message)
    error.retry_after_s = retry_after_s  # type: ignore[attr-defined]
    return error


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    response = error_response(exc.status, exc.code, exc.message)
    if (retry := getattr(exc, "retry_after_s", None)) is not None:
        response.headers["Retry-After"] = str(retry)
    return response


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "internal error")


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
