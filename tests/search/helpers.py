"""Files and searches over the HTTP API, for the search route's tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.accounts import Account

BOUND_S = 3.0
"""The stated bound: an edit or a drive change shows in search within this."""


async def new_file(account: Account, ws: str, name: str, text: str, **body: Any) -> dict[str, Any]:
    response = await account.request(
        "POST",
        f"/api/workspaces/{ws}/drive/files",
        json={"name": name, "text": text, **body},
        expect=201,
    )
    return dict(response.json())


async def search(account: Account, ws: str, q: str, **params: Any) -> dict[str, Any]:
    response = await account.request(
        "GET", f"/api/workspaces/{ws}/search", params={"q": q, **params}, expect=200
    )
    return dict(response.json())


async def eventually(
    account: Account, ws: str, q: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Searches until ``check`` holds, failing past the stated bound."""
    deadline = time.monotonic() + BOUND_S
    while True:
        found = await search(account, ws, q)
        if check(found):
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)  # polling an HTTP resource with a deadline


def paths(found: dict[str, Any]) -> list[str]:
    return [f["path"] for f in found["files"]]
