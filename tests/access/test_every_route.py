"""Every ``/api`` route refuses a caller without a valid token, whoever added it: the list
comes from the app itself, so a new route without a check fails here."""

from __future__ import annotations

import re

import httpx
from starlette.routing import Route

from server.app import create_app
from server.settings import Settings
from tests.server_proc import TandemProcess

PUBLIC = {"/api/auth/signup", "/api/auth/signin", "/api/auth/refresh", "/api/auth/signout"}


def api_routes() -> list[tuple[str, str]]:
    app = create_app(Settings()).app
    found = []
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/"):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.append((method, route.path))
    return found


def test_the_app_has_api_routes_to_check() -> None:
    paths = {path for _, path in api_routes()}
    assert {"/api/me", "/api/workspaces", "/api/docs/{doc_id}"} <= paths


async def test_every_api_route_needs_a_valid_token(server: TandemProcess) -> None:
    checked = 0
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        for method, template in api_routes():
            if template in PUBLIC:
                continue
            path = re.sub(r"\{[^}]+\}", "x", template)
            for headers in ({}, {"authorization": "Bearer forged"}):
                response = await http.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (method, template, response.text)
                assert response.json()["error"]["code"] == "unauthorized"
            checked += 1
    assert checked >= 10
