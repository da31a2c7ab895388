"""Connections past the number authorized at once wait their turn instead of being refused:
a burst of members joining one document is let in, every one, even through a single slot;
one that waits past its time is refused with 1013."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.sync_admission import Admission
from tests.accounts import sign_up
from tests.pyclient import PyClient
from tests.server_proc import TandemProcess

JWT_SECRET = "test-secret-for-the-admission-tests-0123456789"


async def test_a_burst_through_few_slots_is_let_in_whole(tmp_path: Path) -> None:
    env = {"TANDEM_JWT_SECRET": JWT_SECRET, "TANDEM_MAX_PENDING_CONNECTIONS": "2"}
    async with TandemProcess(tmp_path, env=env) as server:
        owner = await sign_up(server.http_url)
        ws = await owner.create_workspace()
        response = await owner.request(
            "POST",
            f"/api/workspaces/{ws}/drive/files",
            json={"name": "class.md", "text": "welcome"},
            expect=201,
        )
        url = f"{server.ws_url}/{response.json()['doc_id']}?token={owner.token}"
        clients = [PyClient(url) for _ in range(60)]
        await asyncio.gather(*(c.__aenter__() for c in clients))
        try:
            await asyncio.gather(*(c.wait_text("welcome") for c in clients))
            assert not any(c.closed.is_set() for c in clients)
        finally:
            await asyncio.gather(*(c.__aexit__(None, None, None) for c in clients))


async def holding(admission: Admission, took: asyncio.Event, release: asyncio.Event) -> bool:
    async with admission.slot() as admitted:
        took.set()
        await release.wait()
        return admitted


async def test_a_connection_waits_for_the_slot_and_gets_it_when_freed() -> None:
    admission = Admission(1, wait_s=10.0)
    took, release = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(holding(admission, took, release))
    await took.wait()
    second_took = asyncio.Event()
    second = asyncio.create_task(holding(admission, second_took, asyncio.Event()))
    for _ in range(10):  # turns of the loop in which the second would (wrongly) get in
        await asyncio.sleep(0)
    assert not second_took.is_set()
    release.set()
    await second_took.wait()
    assert await first is True
    second.cancel()


async def test_a_connection_past_its_wait_is_turned_away() -> None:
    admission = Admission(1, wait_s=0.05)
    took, release = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(holding(admission, took, release))
    await took.wait()
    async with admission.slot() as admitted:
        assert admitted is False
    release.set()
    assert await first is True
    async with admission.slot() as again:  # the slot is free again
        assert again is True
