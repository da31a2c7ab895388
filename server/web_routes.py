"""The web app at ``/``: the built bundle in ``web/dist``, with ``index.html`` for client routes.

Hashed files under ``assets/`` never change, so browsers keep them for a year; ``index.html``
names the current hashes and is revalidated on every load, so a deploy shows on the next
reload. It is the router's default: it answers only what no route matched, so every route
(and its 405 for a wrong method) wins, and unknown ``/api`` paths still get a JSON 404."""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from .errors import ApiError, not_found

DEFAULT_DIST = Path(__file__).resolve().parents[1] / "web" / "dist"
BUILD_STEP = "npm ci --prefix web && npm run build --prefix web"

_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_NOT_OURS = ("api", "sync", "healthz", "readyz", "metrics")

# CodeMirror writes style elements and attributes at run time, hence 'unsafe-inline' for
# styles only; scripts come from our own origin alone. 'self' covers the same-origin websocket.
_CSP_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY = "; ".join(_CSP_DIRECTIVES)
_PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


class WebBundle:
    """Serves one directory built by ``web/build.mjs``."""

    def __init__(self, dist: Path) -> None:
        self.dist = dist.resolve()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await WebSocket(scope, receive, send).close(code=4404, reason="no such endpoint")
            return
        response = await self.serve(Request(scope, receive))
        await response(scope, receive, send)

    async def serve(self, request: Request) -> Response:
        path = request.url.path.lstrip("/")
        if path.split("/", 1)[0] in _NOT_OURS:
            raise not_found("no such endpoint")
        if request.method not in ("GET", "HEAD"):
            raise ApiError(405, "method_not_allowed", "the web app only answers GET and HEAD")
        index = self.dist / "index.html"
        if not index.is_file():
            return PlainTextResponse(
                f"Tandem's web app is not built. Run `{BUILD_STEP}` "
                "(scripts/install.sh does it), then reload.\n",
                status_code=503,
                headers={"cache-control": "no-store"},
            )
        found = self._file(path)
        if found is not None:
            cache = _IMMUTABLE if path.startswith("assets/") else _REVALIDATE
            return self._respond(request, found, cache)
        if "." in path.rsplit("/", 1)[-1]:
            # A missing file, not a client route: answering HTML here would only turn a
            # clear 404 into a confusing MIME-type error in the browser.
            return PlainTextResponse("not found\n", status_code=404)
        return self._respond(request, index, _REVALIDATE)

    def _file(self, path: str) -> Path | None:
        if not path or path.endswith("/"):
            return None
        candidate = (self.dist / path).resolve()
        if not candidate.is_relative_to(self.dist) or not candidate.is_file():
            return None
        return candidate

    def _respond(self, request: Request, file: Path, cache: str) -> Response:
        headers = {"cache-control": cache, "x-content-type-options": "nosniff"}
        if file.suffix == ".html":
            headers.update(_PAGE_HEADERS)
        # With the stat given, the ETag is known now, before the body is sent.
        response = FileResponse(file, headers=headers, stat_result=file.stat())
        if _not_modified(response.headers, request.headers):
            kept = {k: v for k, v in response.headers.items() if k in ("etag", "cache-control")}
            return Response(status_code=304, headers=kept)
        return response


def _not_modified(response_headers: Headers, request_headers: Headers) -> bool:
    if_none_match = request_headers.get("if-none-match")
    etag = response_headers.get("etag")
    if not if_none_match or not etag:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return if_none_match.strip() == "*" or etag.removeprefix("W/") in tags


def web_app(dist: Path = DEFAULT_DIST) -> WebBundle:
    """The ASGI app to set as the router's default (``app.router.default``)."""
    return WebBundle(dist)
