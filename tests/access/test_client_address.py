"""Whose address a request comes from decides its sign-in and sign-up budgets, so a client
must not be able to choose it: X-Forwarded-For counts only from the proxies named in
TANDEM_TRUSTED_PROXIES (the ingress); with none named, the peer's own address counts."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.access.conftest import start
from tests.accounts import PASSWORD, unique_username


async def failed_sign_ins(http: httpx.AsyncClient, forwarded_for: list[str]) -> list[int]:
    statuses = []
    for address in forwarded_for:
        response = await http.post(
            "/api/auth/signin",
            json={"username": unique_username("nobody"), "password": "wrong-wrong"},
            headers={"x-forwarded-for": address},
        )
        statuses.append(response.status_code)
    return statuses


async def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    server = await start(tmp_path, TANDEM_SIGNIN_ATTEMPTS_PER_MIN="3")
    try:
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            # A new name and a new made-up address each time: still one budget, the peer's.
            spoofed = [f"203.0.113.{i}" for i in range(1, 6)]
            assert await failed_sign_ins(http, spoofed) == [401, 401, 401, 429, 429]
    finally:
        await server.kill()


async def test_behind_a_trusted_proxy_each_client_has_its_own_budget(tmp_path: Path) -> None:
    server = await start(
        tmp_path, TANDEM_SIGNIN_ATTEMPTS_PER_MIN="3", TANDEM_TRUSTED_PROXIES="127.0.0.0/8"
    )
    try:
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            one = await failed_sign_ins(http, ["198.51.100.7"] * 4)
            other = await failed_sign_ins(http, ["198.51.100.8"])
            assert one == [401, 401, 401, 429]
            assert other == [401]  # ten bad sign-ins of one client lock out nobody else
    finally:
        await server.kill()


async def test_sign_ups_are_budgeted_per_address(tmp_path: Path) -> None:
    server = await start(tmp_path, TANDEM_SIGNUPS_PER_MIN="2")
    try:
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            statuses = [
                (
                    await http.post(
                        "/api/auth/signup",
                        json={"username": unique_username("new"), "password": PASSWORD},
                    )
                ).status_code
                for _ in range(3)
            ]
            assert statuses == [201, 201, 429]
            listed = await http.get("/api/workspaces")
            assert listed.status_code == 401
    finally:
        await server.kill()
