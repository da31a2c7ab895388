"""Accounts for tests: sign up users, make workspaces and documents over the real HTTP API.

alice = await sign_up(server.http_url, "alice")
ws = await alice.create_workspace("Team")
doc = await alice.create_doc(ws)
await js.connect("a", server.ws_url, doc, params={"token": alice.token})
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse battery"
_names = itertools.count(1)


def unique_username(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


@dataclass
class Account:
    base_url: str
    user_id: str
    username: str
    token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    async def request(
        self, method: str, path: str, *, expect: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30.0) as client:
            response = await client.request(method, path, headers=self.headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (
                f"{method} {path}: {response.status_code} {response.text}"
            )
        return response

    async def create_workspace(self, name: str = "Team") -> str:
        response = await self.request("POST", "/api/workspaces", json={"name": name}, expect=201)
        return str(response.json()["id"])

    async def create_doc(self, workspace_id: str) -> str:
        response = await self.request("POST", f"/api/workspaces/{workspace_id}/docs", expect=201)
        return str(response.json()["doc_id"])

    async def add_member(self, workspace_id: str, other: Account, role: str) -> None:
        await self.request(
            "POST",
            f"/api/workspaces/{workspace_id}/members",
            json={"username": other.username, "role": role},
            expect=201,
        )


async def sign_up(base_url: str, username: str | None = None) -> Account:
    username = username or unique_username("user")
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        response = await client.post(
            "/api/auth/signup", json={"username": username, "password": PASSWORD}
        )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(
        base_url, body["user"]["id"], username, body["access_token"], body["refresh_token"]
    )


async def members(
    base_url: str, owner: str, other: str, role: str, workspace: str | None = None
) -> tuple[Account, Account, str]:
    """Two new accounts, and ``owner``'s new workspace shared with ``other`` as ``role``."""
    first = await sign_up(base_url, owner)
    second = await sign_up(base_url, other)
    ws = await first.create_workspace(workspace or f"Shared as {role}")
    await first.add_member(ws, second, role)
    return first, second, ws
