"""Edit history on a real ``tandem serve`` with stock Yjs clients: sessions per user written in
batches, restore points, restoring as a new edit that can itself be undone, access, and a
deleted workspace taking its history along."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.accounts import Account, sign_up
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

JWT_SECRET = "history-tests-secret-0123456789-abcdefghijklmn"


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


def env(**more: str) -> dict[str, str]:
    return {
        "TANDEM_JWT_SECRET": JWT_SECRET,
        "TANDEM_HISTORY_FLUSH_S": "0.2",
        "TANDEM_HISTORY_SNAPSHOT_S": "3600",
        **more,
    }


async def history(account: Account, doc: str, expect: int = 200) -> dict[str, Any]:
    response = await account.request("GET", f"/api/docs/{doc}/history", expect=expect)
    return dict(response.json())


async def metric(server: TandemProcess, name: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{server.http_url}/metrics")).text
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def eventually(check: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.05)  # polling an HTTP resource with a deadline


async def test_sessions_per_user_are_batched_and_a_restore_is_an_undoable_edit(
    tmp_path: Path, js: YjsClients
) -> None:
    async with TandemProcess(tmp_path, env=env()) as server:
        alice, bob, viewer = [await sign_up(server.http_url) for _ in range(3)]
        ws = await alice.create_workspace()
        await alice.add_member(ws, bob, "editor")
        await alice.add_member(ws, viewer, "viewer")
        doc = await alice.create_doc(ws)
        await js.connect("a", server.ws_url, doc, params={"token": alice.token})
        await js.connect("b", server.ws_url, doc, params={"token": bob.token})

        writes_before = await metric(server, "tandem_history_writes_total")
        for i, ch in enumerate("Hello world\n"):
            await js.insert("a", i, ch)  # one update per keystroke
        await js.converge("a", "b")
        await js.insert("b", 0, "Bob was here. ")
        await js.delete("b", 0, 4)  # "Bob "
        await js.converge("a", "b")

        found = await history(viewer, doc)
        by_user = {s["user_id"]: s for s in found["sessions"]}
        assert set(by_user) == {alice.user_id, bob.user_id}
        a, b = by_user[alice.user_id], by_user[bob.user_id]
        assert (a["inserted"], a["deleted"], a["updates"]) == (12, 0, 12)
        assert (b["inserted"], b["deleted"]) == (14, 4) and b["username"] == bob.username
        assert a["start"] <= a["end"] and a["pod"] and a["workspace_id"] == ws
        writes = await metric(server, "tandem_history_writes_total") - writes_before
        assert 1 <= writes <= 6, writes  # batches, not one write per keystroke

        # The first edits get a timed point within a flush period or two.
        async def timed_points() -> list[dict[str, Any]]:
            return [p for p in (await history(alice, doc))["points"] if p["reason"] == "timed"]

        assert len(await eventually(timed_points)) == 1

        # A restore point, then later work, then the restore.
        await viewer.request("POST", f"/api/docs/{doc}/history/points", expect=403)
        point = (await alice.request("POST", f"/api/docs/{doc}/history/points", expect=201)).json()
        saved = "was here. Hello world\n"
        assert point["size"] == len(saved) and "text" not in point
        await js.delete("b", 0, len("was here. "))
        await js.insert("b", 0, "Goodbye. ")
        await js.converge("a", "b")
        await js.insert("a", len("Goodbye. Hello world\n"), "Later work\n")
        later = await js.converge("a", "b")
        assert later == "Goodbye. Hello world\nLater work\n"

        path = f"/api/docs/{doc}/history/points/{point['id']}/restore"
        await viewer.request("POST", path, expect=403)
        restored = (await bob.request("POST", path, expect=200)).json()
        for name in ("a", "b"):
            await js.wait_text(name, equals=saved)
        # Nothing is lost: the text before the restore is a point of its own.
        undo = (
            await alice.request(
                "GET", f"/api/docs/{doc}/history/points/{restored['undo_point']}", expect=200
            )
        ).json()
        assert undo["text"] == later and undo["reason"] == "before_restore"
        again = f"/api/docs/{doc}/history/points/{restored['undo_point']}/restore"
        await alice.request("POST", again, expect=200)
        for name in ("a", "b"):
            await js.wait_text(name, equals=later)
        assert await js.converge("a", "b") == later

        found = await history(alice, doc)
        restores = [s for s in found["sessions"] if s["kind"] == "restore"]
        assert {s["restored_from"] for s in restores} == {point["id"], restored["undo_point"]}
        assert {s["user_id"] for s in restores} == {alice.user_id, bob.user_id}
        # One timed point for the first edits; the rest came from the calls above.
        assert {p["reason"] for p in found["points"]} == {"timed", "manual", "before_restore"}
        outsider = await sign_up(server.http_url)
        await history(outsider, doc, expect=404)

        # Deleting the workspace deletes its history.
        await alice.request("DELETE", f"/api/workspaces/{ws}", expect=204)
    with sqlite3.connect(tmp_path / "history.db") as db:
        for table in ("history_sessions", "history_points"):
            count = db.execute(f"SELECT COUNT(*) FROM {table} WHERE workspace_id = ?", (ws,))
            assert count.fetchone()[0] == 0, table


async def test_timed_restore_points_are_kept_within_the_retention(
    tmp_path: Path, js: YjsClients
) -> None:
    settings = env(TANDEM_HISTORY_SNAPSHOT_S="0", TANDEM_HISTORY_KEEP_POINTS="3")
    async with TandemProcess(tmp_path, env=settings) as server:
        alice = await sign_up(server.http_url)
        doc = await alice.create_doc(await alice.create_workspace())
        await js.connect("a", server.ws_url, doc, params={"token": alice.token})
        for round_ in range(5):
            before = await metric(server, 'tandem_history_points_total{reason="timed"}')
            await js.insert("a", 0, f"round {round_}\n")

            async def took_one(before: float = before) -> bool:
                return await metric(server, 'tandem_history_points_total{reason="timed"}') > before

            await eventually(took_one)
        points = (await history(alice, doc))["points"]
        assert len(points) == 3 and all(p["reason"] == "timed" for p in points)
        newest = (
            await alice.request("GET", f"/api/docs/{doc}/history/points/{points[0]['id']}")
        ).json()
        assert newest["text"] == await js.text("a")
