"""``/`` serves the built web app; API paths and the health endpoints keep their answers."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from starlette.applications import Starlette

from server.errors import EXCEPTION_HANDLERS
from server.web_routes import BUILD_STEP, web_app
from tests.server_proc import TandemProcess


async def test_index_and_hashed_assets_are_cached_correctly(server: TandemProcess) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        index = await client.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert index.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in index.headers["content-security-policy"]
        assert index.headers["x-frame-options"] == "DENY"
        script = re.search(r'src="(/assets/app-[^"]+\.js)"', index.text)
        assert script, index.text
        asset = await client.get(script.group(1), headers={"accept-encoding": "identity"})
        assert asset.status_code == 200
        assert "content-encoding" not in asset.headers
        assert "javascript" in asset.headers["content-type"]
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        again = await client.get(
            script.group(1),
            headers={"if-none-match": asset.headers["etag"], "accept-encoding": "identity"},
        )
        assert again.status_code == 304
        assert again.content == b""
        # Browsers that take gzip or brotli get the copies compressed at build time.
        zipped = await client.get(script.group(1), headers={"accept-encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "accept-encoding"
        assert int(zipped.headers["content-length"]) < len(asset.content) / 2
        assert zipped.content == asset.content  # httpx undoes the gzip
        brotli = await client.get(script.group(1), headers={"accept-encoding": "gzip, br"})
        assert brotli.headers["content-encoding"] == "br"
        assert "javascript" in brotli.headers["content-type"]
        head = await client.head("/")
        assert head.status_code == 200
        assert head.content == b""


async def test_client_routes_get_the_app_and_missing_files_a_404(server: TandemProcess) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        index = (await client.get("/")).text
        deep = await client.get("/w/some-workspace/d/some-doc")
        assert deep.status_code == 200
        assert deep.text == index
        assert (await client.get("/assets/app-missing.js")).status_code == 404
        for path in (
            "/assets/../../pyproject.toml",
            "/..%2f..%2fpyproject.toml",
            "/%2e%2e/README.md",
        ):
            response = await client.get(path)
            assert "[project]" not in response.text and "# Tandem" not in response.text, path


async def test_api_and_health_paths_are_not_swallowed_by_the_app(server: TandemProcess) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/metrics")).text.startswith("#")
        for method in ("GET", "POST", "DELETE"):
            response = await client.request(method, "/api/no-such-endpoint")
            assert response.status_code == 404, method
            assert response.json()["error"]["code"] == "not_found"
        assert (await client.get("/api/me")).status_code == 401
        refused = await client.post("/some-page")
        assert refused.status_code == 405
        # A wrong method on a real route keeps that route's answer.
        assert (await client.put("/api/workspaces")).status_code == 405


async def test_a_missing_build_answers_with_the_install_step(tmp_path: Path) -> None:
    app = Starlette(exception_handlers=EXCEPTION_HANDLERS)  # type: ignore[arg-type]
    app.router.default = web_app(tmp_path / "dist")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/")
    assert response.status_code == 503
    assert BUILD_STEP in response.text
    assert "scripts/install.sh" in response.text
