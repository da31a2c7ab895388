"""The web app at ``/``: the built bundle in ``web/dist``, with ``index.html`` for client routes.

Hashed files under ``assets/`` never change, so browsers keep them for a year; ``index.html``
names the current hashes and is revalidated on every load, so a deploy shows on the next
reload. It is the router's default: it answers only what no route matched, so every route
(and its 405 for a wrong method) wins, and unknown ``/api`` paths still get a JSON 404."""

from __future__ import annotations

import mimetypes
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
            if path.startswith("assets/"):
                return self._respond(request, found, _IMMUTABLE, self._encoded(request, found))
            return self._respond(request, found, _REVALIDATE)
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

    def _encoded(self, request: Request, file: Path) -> tuple[Path, str] | None:
        """The copy build.mjs compressed, if the browser takes its encoding."""
        accepted = {
            part.split(";", 1)[0].strip()
            for part in request.headers.get("accept-encoding", "").lower().split(",")
        }
        for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
            candidate = file.with_name(file.name + suffix)
            if encoding in accepted and candidate.is_file():
                return candidate, encoding
        return None

    def _respond(
        self,
        request: Request,
        file: Path,
        cache: str,
        encoded: tuple[Path, str] | None = None,
    ) -> Response:
        headers = {"cache-control": cache, "x-content-type-options": "nosniff"}
        if file.suffix == ".html":
            headers.update(_PAGE_HEADERS)
        if file.suffix in (".js", ".css"):
            headers["vary"] = "accept-encoding"
        body = file
        if encoded is not None:
            body, headers["content-encoding"] = encoded
        media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type.endswith("javascript"):
            media_type += "; charset=utf-8"
        # With the stat given, the ETag (of the bytes sent) is known before the body is sent.
        response = FileResponse(
            body, headers=headers, media_type=media_type, stat_result=body.stat()
        )
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
